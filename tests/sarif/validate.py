"""Validate SARIF files against the SARIF 2.1.0 JSON schema.

usage: validate.py SCHEMA_CACHE_DIR FILE.sarif...

The schema is not written by hand: it is Microsoft's SARIF 2.1.0 schema
(`sarif-2.1.0-rtm.5.json`, the one GitHub code scanning uses) as shipped in the npm
registry package `@microsoft/jest-sarif`, downloaded once, checked against a pinned
SHA-256 and cached. Prints one line per file; exits 1 if any file is invalid.
"""

import hashlib
import io
import json
import pathlib
import sys
import tarfile
import urllib.request

import jsonschema

PACKAGE = "https://registry.npmjs.org/@microsoft/jest-sarif/-/jest-sarif-1.0.0-beta.0.tgz"
PACKAGE_SHA256 = "748e2c3d1a842e7bb258416685c7ea3a0da40005b72267b2052c2856d48ad102"
MEMBER = "package/lib/schemas/sarif-2.1.0-rtm.5.json"


def schema(cache: pathlib.Path) -> dict:
    path = cache / "sarif-2.1.0-rtm.5.json"
    if not path.exists():
        data = urllib.request.urlopen(PACKAGE, timeout=60).read()
        digest = hashlib.sha256(data).hexdigest()
        if digest != PACKAGE_SHA256:
            sys.exit(f"{PACKAGE}: sha256 {digest}, expected {PACKAGE_SHA256}")
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            member = tar.extractfile(MEMBER)
            if member is None:
                sys.exit(f"{PACKAGE}: no {MEMBER}")
            cache.mkdir(parents=True, exist_ok=True)
            path.write_bytes(member.read())
    return json.loads(path.read_text())


def main() -> int:
    cache, files = pathlib.Path(sys.argv[1]), sys.argv[2:]
    doc_schema = schema(cache)
    validator_class = jsonschema.validators.validator_for(doc_schema)
    validator_class.check_schema(doc_schema)
    validator = validator_class(doc_schema)
    failed = 0
    for name in files:
        doc = json.loads(pathlib.Path(name).read_text())
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        for e in errors[:20]:
            print(f"{name}: {'/'.join(map(str, e.path))}: {e.message}")
        failed += bool(errors)
        print(f"{name}: {'INVALID' if errors else 'valid'} ({len(doc['runs'][0]['results'])} results)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
