#!/usr/bin/python3
"""Runs one attack of issue 10 against activation_server on 127.0.0.1.

  tests/adversarial/attack.py ATTACK --server BINARY [--extra-flags="..."]
                              [--PARAM VALUE ...]

Starts the server with the pod flags (--max_inflight=48
--max_message_bytes=4194304 --threads=2), the attack's own flags, then
--extra-flags (last wins), runs the attack, kills every server it started and
prints one JSON line of measurements. Each attack's size parameters are
options (`attack.py ATTACK --help` lists them with their defaults).
Exit status 0 when the attack ran, whatever it measured.
"""

import argparse
import inspect
import json
import shlex
import sys
import time

import attacks
from harness import POD_FLAGS, Server


def make_launcher(binary, extra_flags):
    """Returns launch(flags=()) -> Server with pod, attack, extra flags."""
    def launch(flags=()):
        return Server(binary, (*POD_FLAGS, *flags, *extra_flags))
    return launch


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    sub = parser.add_subparsers(dest="attack", required=True)
    for name, fn in attacks.ATTACKS.items():
        p = sub.add_parser(name, help=fn.__doc__.split("\n")[0],
                           description=fn.__doc__)
        p.add_argument("--server", required=True, help="activation_server binary")
        p.add_argument("--extra-flags", default="",
                       help="more server flags, one shell-quoted string")
        for param in list(inspect.signature(fn).parameters.values())[1:]:
            p.add_argument(f"--{param.name}", type=type(param.default),
                           default=param.default,
                           help=f"default {param.default}")
    args = parser.parse_args()
    fn = attacks.ATTACKS[args.attack]
    params = {p: getattr(args, p)
              for p in list(inspect.signature(fn).parameters)[1:]}
    extra = shlex.split(args.extra_flags)
    start = time.monotonic()
    result = fn(make_launcher(args.server, extra), **params)
    line = {"attack": args.attack, "server": args.server,
            "extra_flags": extra, "params": params, **result,
            "wall_s": round(time.monotonic() - start, 1)}
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
