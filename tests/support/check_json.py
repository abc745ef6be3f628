#!/usr/bin/env python3
"""Reads each FILE with Python's json module as strict JSON (RFC 8259): a .jsonl file line by
line, any other file as one document. Python's json accepts NaN, Infinity and repeated keys by
default; they are refused here, as other JSON readers refuse them.

Usage: check_json.py FILE...
Prints "N documents in M files" and exits 0 when every document parses; otherwise prints one
"FILE[:LINE]: reason" line per failure and exits 1."""
import json
import sys


def refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def refuse_repeated_keys(pairs):
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f"key {key!r} appears twice in one object")
        seen.add(key)
    return dict(pairs)


def parse(text):
    json.loads(text, parse_constant=refuse_constant, object_pairs_hook=refuse_repeated_keys)


def main(paths):
    if not paths:
        print("usage: check_json.py FILE...", file=sys.stderr)
        return 2
    documents, failures = 0, []
    for path in paths:
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8")  # JSON text is UTF-8 (RFC 8259 section 8.1)
        except (OSError, UnicodeDecodeError) as e:
            failures.append(f"{path}: {e}")
            continue
        if path.endswith(".jsonl"):
            units = [(f"{path}:{n}", line) for n, line in enumerate(text.splitlines(), 1)]
            if not units:
                failures.append(f"{path}: no lines")
        else:
            units = [(path, text)]
        for where, unit in units:
            try:
                parse(unit)
                documents += 1
            except ValueError as e:
                failures.append(f"{where}: {e}")
    for failure in failures:
        print(failure)
    print(f"{documents} documents in {len(paths)} files")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
