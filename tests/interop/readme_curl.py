#!/usr/bin/python3
"""Runs the curl lines of README.md's Open Inference Protocol section against
a live server and checks that each prints what the README shows.

    tests/interop/readme_curl.py --url http://127.0.0.1:PORT

Every `$ curl ...` line of the section's shell blocks (with the lines that
continue it) is run with bash, its `localhost:8080` pointed at --url; the
lines after it, up to the next command or the block's end, are its expected
output. Exits 1 on the first difference.
"""

import argparse
import pathlib
import re
import subprocess
import sys

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## The Open Inference Protocol (KServe v2)"


def examples(text):
    """Yields (command, expected output) of the section's shell blocks."""
    section = text[text.index(SECTION):]
    section = section[:section.index("\n## ", len(SECTION))]
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            if not lines[i].startswith("$ curl"):
                i += 1
                continue
            command = lines[i][2:]
            i += 1
            # A command goes on while its quotes are open or it ends in "\".
            while i < len(lines) and (command.count("'") % 2 == 1 or
                                      command.endswith("\\")):
                command += "\n" + lines[i]
                i += 1
            expected = []
            while i < len(lines) and not lines[i].startswith("$ "):
                expected.append(lines[i])
                i += 1
            yield command, "\n".join(expected).strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--target", help="unused: run_example.sh passes it")
    args = parser.parse_args()
    host = args.url.removeprefix("http://").rstrip("/")
    ran = 0
    for command, expected in examples(README.read_text()):
        command = command.replace("localhost:8080", host)
        got = subprocess.run(["bash", "-c", command], capture_output=True,
                             text=True, timeout=30).stdout.strip()
        if got != expected:
            print(f"FAIL {command!r}\n  expected: {expected!r}\n  got:      "
                  f"{got!r}")
            return 1
        print(f"PASS {command.splitlines()[0]} -> {got.splitlines()[0][:80]}")
        ran += 1
    if ran == 0:
        print(f"FAIL no curl lines found in {SECTION!r}")
        return 1
    print(f"{ran} README curl lines passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
