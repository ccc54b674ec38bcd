//! The database names Django generates (`BaseDatabaseSchemaEditor._create_index_name`):
//! `<table>_<columns>_<md5 digest>` plus a suffix, shortened the way Django shortens it
//! to PostgreSQL's 63 characters. Used to write help that names the constraint Django
//! would have created.

/// PostgreSQL's identifier length (`max_name_length()`).
const MAX_LENGTH: usize = 63;

/// Django's `names_digest(*args, length=8)`: the MD5 of the arguments, hex, truncated.
pub fn names_digest(args: &[&str], length: usize) -> String {
    let mut data = Vec::new();
    for a in args {
        data.extend_from_slice(a.as_bytes());
    }
    let digest = md5(&data);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex.chars().take(length).collect()
}

/// Django's `_create_index_name(table, columns, suffix)` for PostgreSQL.
pub fn index_name(table: &str, columns: &[&str], suffix: &str) -> String {
    // `split_identifier`: a `"schema"."table"` name keeps the table part.
    let table = table.rsplit('.').next().unwrap_or(table).trim_matches('"');
    let mut digest_args = vec![table];
    digest_args.extend_from_slice(columns);
    let mut hash_suffix = format!("{}{suffix}", names_digest(&digest_args, 8));
    let joined = columns.join("_");
    let name = format!("{table}_{joined}_{hash_suffix}");
    if name.len() <= MAX_LENGTH {
        return name;
    }
    if hash_suffix.len() > MAX_LENGTH / 3 {
        hash_suffix = prefix(&hash_suffix, MAX_LENGTH / 3).to_string();
    }
    let other = (MAX_LENGTH - hash_suffix.len()) / 2 - 1;
    let name = format!(
        "{}_{}_{hash_suffix}",
        prefix(table, other),
        prefix(&joined, other)
    );
    if name.starts_with(|c: char| c == '_' || c.is_ascii_digit()) {
        let mut cut = name;
        cut.pop();
        return format!("D{cut}");
    }
    name
}

/// The name Django gives a foreign key constraint of `table.column` to
/// `to_table.to_column`.
pub fn foreign_key_name(table: &str, column: &str, to_table: &str, to_column: &str) -> String {
    index_name(table, &[column], &format!("_fk_{to_table}_{to_column}"))
}

/// At most `n` characters of `s` (Python's `s[:n]`).
fn prefix(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// MD5's per-step constants (RFC 1321, 3.4).
const MD5_K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// MD5 (RFC 1321), for Django's name digests.
fn md5(input: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    // The integer part of 2^32 * |sin(i + 1)| (see the test that derives them).
    let k = &MD5_K;
    let mut message = input.to_vec();
    let bit_len = (input.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bit_len.to_le_bytes());
    let (mut a0, mut b0, mut c0, mut d0): (u32, u32, u32, u32) =
        (0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476);
    for chunk in message.chunks(64) {
        let m: Vec<u32> = chunk
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i {
                0..=15 => ((b & c) | (!b & d), i),
                16..=31 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                32..=47 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    let mut out = [0u8; 16];
    for (i, word) in [a0, b0, c0, d0].iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_constants_are_the_sines_of_the_rfc() {
        for (i, &k) in MD5_K.iter().enumerate() {
            let derived = ((i + 1) as f64).sin().abs() * 4_294_967_296.0;
            assert_eq!(k, derived as u32, "K[{i}]");
        }
    }

    #[test]
    fn md5_matches_the_rfc_test_suite() {
        let hex = |s: &str| names_digest(&[s], 32);
        assert_eq!(hex(""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
            "57edf4a22be3c955ac49da2e2107b67a"
        );
    }

    /// The names of the foreign keys of `django_admin_log` in every Django database
    /// (`\d django_admin_log` on PostgreSQL), the short and the shortened form.
    #[test]
    fn foreign_key_names_are_djangos() {
        assert_eq!(
            foreign_key_name("django_admin_log", "user_id", "auth_user", "id"),
            "django_admin_log_user_id_c564eba6_fk_auth_user_id"
        );
        assert_eq!(
            foreign_key_name(
                "django_admin_log",
                "content_type_id",
                "django_content_type",
                "id"
            ),
            "django_admin_log_content_type_id_c4bce8eb_fk_django_co"
        );
    }
}
