#!/usr/bin/env bash
# The main job on a fresh machine: set-up, build, then score and render the
# GenCAD-Code fixture programs natively and write the results under runs/.
# (The CPU tiny recipe `cadrl recipe run recipes/tiny.toml` replaces this once the
# pipeline lands.)
set -euo pipefail
cd "$(dirname "$0")/.."
source <(bash scripts/bootstrap.sh --env)
cargo build --release --locked
out="runs/fixtures-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out/renders"
fx="${CADRL_FIXTURES:-../shared/fixtures/gencad-dev}"
"$CADRL_CQ_PYTHON" - "$fx/cases.jsonl" "$out/pairs.jsonl" <<'PY'
import json, sys
with open(sys.argv[2], "w") as out:
    for line in open(sys.argv[1]):
        c = json.loads(line)
        out.write(json.dumps({"id": c["id"], "a": c["candidate"], "b": c["code"]}) + "\n")
        open(sys.argv[2].rsplit("/", 1)[0] + f"/renders/{c['id']}.py", "w").write(c["code"])
PY
target/release/cadrl score --pairs "$out/pairs.jsonl" --out "$out/scores.jsonl"
for p in "$out"/renders/*.py; do target/release/cadrl render "$p" -o "${p%.py}.png"; done
echo "scores: $out/scores.jsonl   renders: $out/renders/"
head -3 "$out/scores.jsonl"
