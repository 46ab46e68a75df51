"""Rewards per second from Python: cadrl.rewards.iou against the same IoU with CadQuery.

Run with a Python that has cadquery 2.8 and the cadrl wheel (python/bench/run.sh does
it: $CADRL_CQ_PYTHON, wheel installed with pip --target). The batch is 64 completions
built from the GenCAD-Code fixtures: each case's candidate plus float-literal
perturbations of its program (as the fixture's candidates were made), scored against
the case's reference program, as GRPO would score 64 rollouts.

CadQuery side, done as a Python reward function would: exec() each program, take
`solid`, IoU = volume(a.intersect(b)) / volume(a.union(b)) with OCCT; references
executed once per distinct text (cadrl caches them too). Both sides get a warm-up batch.

Prints rewards/s for each, the ratio, and how far the two IoUs are apart.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time
from pathlib import Path

import cadquery as cq

import cadrl
import cadrl.rewards
from cadrl import _native

FLOAT = re.compile(r"(?<![\w.])(-?\d+\.\d+)")


def perturb(code: str, rng: random.Random) -> str:
    return FLOAT.sub(lambda m: repr(round(float(m.group(1)) * rng.uniform(0.85, 1.15), 6)), code)


def batch(cases: list[dict], n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    usable = [c for c in cases if cadrl.execute(c["code"]).valid]
    comps, refs = [], []
    i = 0
    while len(comps) < n:
        c = usable[i % len(usable)]
        comps.append(c["candidate"] if i < len(usable) else perturb(c["code"], rng))
        refs.append(c["code"])
        i += 1
    return comps, refs


def cq_solid(code: str):
    env: dict = {}
    try:
        exec(code, env)  # noqa: S102 - this is the slow, unsafe baseline being measured
        s = env["solid"].val()
        return s if s.isValid() and s.Volume() > 0 else None
    except Exception:
        return None


def cq_iou(comps: list[str], refs: list[str], cache: dict) -> list[float]:
    out = []
    for code, ref in zip(comps, refs):
        if ref not in cache:
            cache[ref] = cq_solid(ref)
        a, b = cq_solid(code), cache[ref]
        if a is None or b is None:
            out.append(0.0)
            continue
        try:
            inter = a.intersect(b).Volume()
            union = a.fuse(b).Volume()
            out.append(inter / union if union > 0 else 0.0)
        except Exception:
            out.append(0.0)
    return out


def timed(f, reps: int) -> tuple[float, list[float]]:
    times, result = [], None
    for _ in range(reps):
        t = time.perf_counter()
        result = f()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", default="/work/shared/fixtures/gencad-dev/cases.jsonl")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--cq-reps", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    a = ap.parse_args()
    cases = [json.loads(line) for line in Path(a.fixtures).read_text().splitlines() if line.strip()]
    comps, refs = batch(cases, a.n, seed=0)

    def native_cold():  # references run too (first GRPO step of a prompt)
        _native.clear_cache()
        return cadrl.rewards.iou(comps, cadquery=refs)

    cadrl.rewards.iou(comps, cadquery=refs)  # warm-up
    t_warm, ours = timed(lambda: cadrl.rewards.iou(comps, cadquery=refs), a.reps)
    t_cold, _ = timed(native_cold, a.reps)

    cache: dict = {}
    cq_iou(comps, refs, cache)  # warm-up; fills the reference cache
    t_cq_warm, theirs = timed(lambda: cq_iou(comps, refs, cache), a.cq_reps)
    t_cq_cold, _ = timed(lambda: cq_iou(comps, refs, {}), a.cq_reps)

    native_ok = [cadrl.execute(c).valid for c in comps]
    cq_ok = [cq_solid(c) is not None for c in comps]
    diffs = [abs(x - y) for x, y, p, q in zip(ours, theirs, native_ok, cq_ok) if p and q]
    res = {
        "n": a.n,
        "native_valid": sum(native_ok),
        "cadquery_valid": sum(cq_ok),
        "validity_disagreements": sum(p != q for p, q in zip(native_ok, cq_ok)),
        "cadrl_rewards_per_s": a.n / t_warm,
        "cadrl_cold_rewards_per_s": a.n / t_cold,
        "cadquery_rewards_per_s": a.n / t_cq_warm,
        "cadquery_cold_rewards_per_s": a.n / t_cq_cold,
        "speedup": t_cq_warm / t_warm,
        "speedup_cold": t_cq_cold / t_cold,
        "max_abs_iou_diff": max(diffs),
        "mean_abs_iou_diff": statistics.mean(diffs),
    }
    print(f"batch of {a.n} completions: {res['native_valid']} valid natively, {res['cadquery_valid']} in CadQuery "
          f"({res['validity_disagreements']} disagreements)")
    print(f"cadrl.rewards.iou : {res['cadrl_rewards_per_s']:10.1f} rewards/s  ({t_warm * 1e3:.1f} ms; references cached)")
    print(f"                    {res['cadrl_cold_rewards_per_s']:10.1f} rewards/s  ({t_cold * 1e3:.1f} ms; references run too)")
    print(f"CadQuery + OCCT   : {res['cadquery_rewards_per_s']:10.1f} rewards/s  ({t_cq_warm * 1e3:.0f} ms; references cached)")
    print(f"                    {res['cadquery_cold_rewards_per_s']:10.1f} rewards/s  ({t_cq_cold * 1e3:.0f} ms; references run too)")
    print(f"speedup           : {res['speedup']:.0f}x (cached references), {res['speedup_cold']:.0f}x (cold)")
    print(f"|IoU cadrl - IoU OCCT| where both are valid: max {res['max_abs_iou_diff']:.2e}, mean {res['mean_abs_iou_diff']:.2e}")
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
