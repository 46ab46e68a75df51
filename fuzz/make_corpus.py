#!/usr/bin/env python3
"""Write small seed corpora for both fuzz targets into fuzz/corpus/ (git-ignored).

execute: every fixture program (`code` and `candidate`) verbatim.
mutate_fixture: for each of the 34 fixture programs and each of the 10 edit kinds,
one 8-byte seed (see `mutate` in src/lib.rs for the byte layout).
"""
import json
import os

here = os.path.dirname(os.path.abspath(__file__))
cases = os.path.join(here, "..", "..", "shared", "fixtures", "gencad-dev", "cases.jsonl")
ex = os.path.join(here, "corpus", "execute")
mu = os.path.join(here, "corpus", "mutate_fixture")
os.makedirs(ex, exist_ok=True)
os.makedirs(mu, exist_ok=True)
n = 0
with open(cases) as f:
    for line in f:
        if not line.strip():
            continue
        d = json.loads(line)
        for key in ("code", "candidate"):
            with open(os.path.join(ex, f"fixture-{d['id']}-{key}"), "wb") as out:
                out.write(d[key].encode())
            n += 1
for i in range(n):
    for kind in range(10):
        with open(os.path.join(mu, f"seed-{i:02d}-{kind}"), "wb") as out:
            out.write(bytes([i, kind, 3, 0, 7]) + b"1.5")
print(f"{n} programs in {ex}, {n * 10} seeds in {mu}")
