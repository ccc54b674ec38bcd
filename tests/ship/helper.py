"""What tests/ship.rs needs from Python: YAML read as JSON, and the `migrail` command
lines of a file split as the shell would (shlex).

    helper.py json FILE          the YAML document as JSON
    helper.py commands FILE...   JSON list of argv lists: every line (in YAML string values
                                 of buildspec phases, or in ```sh blocks of Markdown) that
                                 starts with `migrail `, cut at the first shell operator
"""

import json
import re
import shlex
import sys

import yaml

OPERATORS = {"||", "&&", "|", ";", ">", ">>", "2>", "<"}


def argv(line):
    words = shlex.split(line, comments=True)
    out = []
    for w in words:
        if w in OPERATORS:
            break
        out.append(w)
    return out


def lines_of(path):
    text = open(path, encoding="utf-8").read()
    if path.endswith((".yml", ".yaml")):
        doc = yaml.safe_load(text)
        for phase in (doc.get("phases") or {}).values():
            for command in phase.get("commands") or []:
                yield from command.splitlines()
    else:
        for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
            yield from block.splitlines()


def main():
    cmd, paths = sys.argv[1], sys.argv[2:]
    if cmd == "json":
        print(json.dumps(yaml.safe_load(open(paths[0], encoding="utf-8"))))
    elif cmd == "commands":
        found = []
        for path in paths:
            for line in lines_of(path):
                line = line.strip()
                if line.startswith("migrail "):
                    found.append(argv(line))
        print(json.dumps(found))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
