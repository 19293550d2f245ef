#!/usr/bin/env python3
"""Measures what a big rules file costs: 10 000 breakers with 100 000 host
patterns (exact names, wildcards, IPv4 and IPv6 CIDRs, with and without
ports). Reports wall time and peak RSS (getrusage via GNU time) for
`fusebox check`, `fusebox explain` (parse + matcher) and a program under the
shim making one connect, each next to the same run with a one-breaker rules
file. Asserts nothing: the figures go into the README.

usage: BUILD=build python3 scripts/rules-scale.py [BREAKERS [PATTERNS_PER_BREAKER]]
       python3 scripts/rules-scale.py --write FILE [BREAKERS [PATTERNS_PER_BREAKER]]
         (only writes the rules file: make bench counts its parse in instructions)"""
import json
import os
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(os.environ.get("BUILD", "build"))


def hosts(i):
    """Ten host patterns of breaker i, of every kind."""
    a, b = i // 256, i % 256
    return [f"h{i}.example", f"h{i}.example:443", f"*.d{i}.example", f"*.e{i}.example:80",
            f"10.{a}.{b}.0/24", f"10.{a}.{b}.9", f"[fd00::{i:x}]:8443", f"fd01:{i:x}::/32",
            f"::ffff:11.{a}.{b}.0/120", f"n{i}.test."]


def rules(breakers, per):
    return {"version": 1, "breakers": [
        {"name": f"b{i}", "fail_max": 3, "hosts": (hosts(i) * (per // 10 + 1))[:per]}
        for i in range(breakers)]}


def measure(argv, env):
    """Runs argv under GNU time (its wait4 rusage, free of this Python
    process's own size); returns (seconds, peak RSS in MiB)."""
    done = subprocess.run(["/usr/bin/time", "-f", "%e %M", "--"] + argv, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode not in (0, 1):
        sys.exit(f"{argv[0]} failed: {done.stderr}")
    seconds, kib = done.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(kib) / 1024


def main():
    args = sys.argv[1:]
    write_to = None
    if args[:1] == ["--write"] and len(args) > 1:
        write_to, args = args[1], args[2:]
    breakers = int(args[0]) if args else 10000
    per = int(args[1]) if len(args) > 1 else 10
    if write_to:
        with open(write_to, "w") as f:
            json.dump(rules(breakers, per), f)
        return
    tmp = tempfile.mkdtemp(prefix="fusebox-scale-")
    small, big = os.path.join(tmp, "small.json"), os.path.join(tmp, "big.json")
    with open(small, "w") as f:
        json.dump(rules(1, 10), f)
    with open(big, "w") as f:
        json.dump(rules(breakers, per), f)
    env = dict(os.environ, FUSEBOX_STATE=os.path.join(tmp, "state"))
    print(f"rules: {breakers} breakers, {breakers * per} host patterns, "
          f"{os.path.getsize(big) / 1e6:.1f} MB of JSON")
    last = f"n{breakers - 1}.test"
    cases = [
        ("fusebox check", lambda r: [f"{BUILD}/fusebox", "check", r], {}),
        ("fusebox explain", lambda r: [f"{BUILD}/fusebox", "explain", "-r", r, last], {}),
        ("shimmed connect", lambda r: [f"{BUILD}/helpers/testclient", "connect", "127.0.0.1", "9"],
         {"LD_PRELOAD": f"{BUILD}/libfusebox.so"}),
    ]
    results = {}
    for size, path in (("1 breaker", small), ("big", big)):
        for name, argv, extra in cases:
            results[(name, size)] = measure(argv(path), dict(env, FUSEBOX_RULES=path, **extra))
    print(f"{'':18} {'1 breaker':>22} {'big rules':>22}")
    for name, _, _ in cases:
        (t1, m1), (t2, m2) = results[(name, "1 breaker")], results[(name, "big")]
        print(f"{name:18} {t1:9.3f} s {m1:7.1f} MiB {t2:9.3f} s {m2:7.1f} MiB")
    subprocess.run(["rm", "-rf", tmp])


main()
