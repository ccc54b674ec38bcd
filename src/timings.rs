//! `MIGRAIL_TIMINGS=1`: how long each stage of a run takes, on stderr (for benchmarks
//! and bug reports; off by default, nothing is printed).

use std::cell::Cell;
use std::time::Instant;

pub struct Timer {
    enabled: bool,
    last: Cell<Instant>,
}

impl Timer {
    pub fn start() -> Timer {
        Timer {
            enabled: enabled(),
            last: Cell::new(Instant::now()),
        }
    }

    /// Print the time since the previous lap under `stage`.
    pub fn lap(&self, stage: &str) {
        if self.enabled {
            let now = Instant::now();
            eprintln!(
                "timing: {stage:<28} {:>9.1} ms{}",
                (now - self.last.get()).as_secs_f64() * 1e3,
                resident_mb().map_or(String::new(), |mb| format!("  (RSS {mb} MB)"))
            );
            self.last.set(now);
        }
    }
}

/// The resident set size, on Linux.
fn resident_mb() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096 / 1_000_000)
}

fn enabled() -> bool {
    std::env::var_os("MIGRAIL_TIMINGS").is_some_and(|v| v != "0")
}

/// Print a figure (not a time) under `MIGRAIL_TIMINGS=1`.
pub fn note(what: &str) {
    if enabled() {
        eprintln!("timing: {what}");
    }
}
