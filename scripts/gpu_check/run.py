"""The device check: cadrl against transformers (+PEFT) on one GPU (or the CPU), one report.

Run it through `scripts/gpu_check.sh` (which picks the Python and the binary); see that
file for the options. Steps, each recorded in OUT/report.json and OUT/report.md as it ends
(a step that fails or times out is recorded with its error and the check goes on; the exit
status is non-zero if any step failed):

1. checkpoints: `small` always; Qwen2.5-VL-3B-Instruct's exact configuration (`3b`, random
   weights, bf16) on a GPU unless `--no-3b` (make_checkpoint.py);
2. an image and a completion: synthetic GenCAD-style parts from `cadrl data synth`, the
   program nearest `--completion-tokens` tokens and its 448x448 render;
3. per configuration, each phase in its own process for cadrl (`cadrl measure`) and for
   transformers (hf_measure.py), with the process's peak memory (GPU: device memory in use
   above what it was before the process started, from `nvidia-smi`, the same for both;
   CPU: peak resident set): log-probs and greedy tokens in f32, log-probs in bf16, a LoRA
   SFT step, a DPO step with a cached reference, sampling `--samples` candidates;
4. `recipes/dpo_iou.toml` end to end (every stage, a few steps each) on the largest
   configuration with synthetic data.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# Targets of the check (issue: GPU readiness): cadrl's number over transformers'.
TARGETS = {
    "f32_mean_abs_diff": 1e-4,
    "bf16_mean_abs_diff": 0.02,
    "step_time_ratio": 1.0,
    "memory_ratio": 1.0,
    "sample_tokens_per_s_ratio": 1.5,
}


class Check:
    def __init__(self, a):
        self.a = a
        self.out = a.out
        self.report = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "device": a.device, "targets": TARGETS,
                       "configs": {}, "failures": []}
        self.env = dict(os.environ)
        import torch  # only for its library directory and versions
        lib = os.path.join(os.path.dirname(torch.__file__), "lib")
        self.env["LD_LIBRARY_PATH"] = lib + ":" + self.env.get("LD_LIBRARY_PATH", "")
        self.env.setdefault("HF_HUB_OFFLINE", "1")
        self.env.setdefault("TRANSFORMERS_OFFLINE", "1")
        self.report["env"] = self.versions(torch)

    def versions(self, torch):
        v = {"python": sys.version.split()[0], "torch": torch.__version__}
        for m in ["transformers", "peft"]:
            try:
                v[m] = __import__(m).__version__
            except ImportError as e:
                v[m] = f"missing: {e}"
        r = subprocess.run([self.a.cadrl, "--version"], capture_output=True, text=True, env=self.env)
        v["cadrl"] = (r.stdout or r.stderr).strip().removeprefix("cadrl ")
        if self.a.device.startswith("cuda"):
            q = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader",
                                "-i", self.gpu_index()], capture_output=True, text=True)
            v["gpu"] = q.stdout.strip() or q.stderr.strip()
        return v

    def gpu_index(self):
        return self.a.device.split(":")[1] if ":" in self.a.device else "0"

    # ---- bookkeeping -------------------------------------------------------------
    def save(self):
        os.makedirs(self.out, exist_ok=True)
        for name, text in [("report.json", json.dumps(self.report, indent=2)), ("report.md", markdown(self.report))]:
            tmp = os.path.join(self.out, name + ".tmp")
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, os.path.join(self.out, name))

    def fail(self, where, err):
        self.report["failures"].append({"where": where, "error": err[-3000:]})
        print(f"[gpu_check] FAILED {where}: {err[-600:]}", file=sys.stderr, flush=True)
        self.save()

    # ---- running a process with its peak memory -----------------------------------
    def run(self, where, cmd, timeout):
        """Run `cmd`; returns (stdout, seconds, peak MiB) or None after recording a failure."""
        print(f"[gpu_check] {where}", file=sys.stderr, flush=True)
        gpu = self.a.device.startswith("cuda")
        poll = PeakGpu(self.gpu_index()) if gpu else None
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env, text=True,
                             start_new_session=True)
        timer = threading.Timer(timeout, lambda: os.killpg(p.pid, signal.SIGKILL))
        timer.start()
        err_lines = []
        drain = threading.Thread(target=lambda: err_lines.extend(p.stderr))
        drain.start()
        stdout = p.stdout.read()
        _, status, usage = os.wait4(p.pid, 0)
        timer.cancel()
        drain.join()
        p.returncode = os.waitstatus_to_exitcode(status)
        secs = time.perf_counter() - t
        peak = poll.stop() if gpu else usage.ru_maxrss / 1024.0
        if p.returncode != 0:
            why = "timed out" if p.returncode == -signal.SIGKILL else f"exit {p.returncode}"
            self.fail(where, f"{why} after {secs:.0f} s: {' '.join(cmd)}\n{''.join(err_lines)}")
            return None
        return stdout, secs, peak

    # ---- the phases ----------------------------------------------------------------
    def measure(self, cfg, name, model, common, extra, timeout):
        res = {}
        for side in ["cadrl", "transformers"]:
            if side == "cadrl":
                cmd = [self.a.cadrl, "measure"]
            else:
                cmd = [sys.executable, os.path.join(HERE, "hf_measure.py")]
            cmd += ["--model", model, "--image", self.image, "--completion", self.completion,
                    "--device", self.a.device] + common + extra
            r = self.run(f"{cfg}/{name}/{side}", cmd, timeout)
            if r is None:
                continue
            stdout, secs, peak = r
            phases = {}
            for line in stdout.splitlines():
                if line.startswith("{"):
                    d = json.loads(line)
                    phases[d["phase"]] = d
            res[side] = {"phases": phases, "process_s": secs, "peak_mib": peak}
        self.report["configs"][cfg]["phases"][name] = res
        self.save()
        return res

    def config(self, cfg):
        a = self.a
        model = os.path.join(self.a.work, "models", cfg)
        entry = {"phases": {}}
        self.report["configs"][cfg] = entry
        init_device = "cuda" if a.device.startswith("cuda") else "cpu"
        if not os.path.exists(os.path.join(model, "model.safetensors.index.json")) and not os.path.exists(
                os.path.join(model, "model.safetensors")):
            r = self.run(f"{cfg}/checkpoint", [sys.executable, os.path.join(HERE, "make_checkpoint.py"), model, cfg,
                                               init_device], a.timeout)
            if r is None:
                return None
            entry["checkpoint"] = json.loads(r[0].strip().splitlines()[-1]) | {"seconds": r[1]}
        self.save()
        return model

    def compare(self, cfg, full):
        a, ph = self.a, self.report["configs"][cfg]["phases"]
        c = {}

        def get(name, side, phase):
            return ph.get(name, {}).get(side, {}).get("phases", {}).get(phase)
        ours32, hf32 = get("parity_f32", "cadrl", "logprobs"), get("parity_f32", "transformers", "logprobs")
        ours16, hf16 = get("parity_bf16", "cadrl", "logprobs"), get("parity_bf16", "transformers", "logprobs")
        if ours32 and hf32:
            c["f32"] = diffs(ours32["logprobs"], hf32["logprobs"])
        if ours16 and hf16:
            c["bf16"] = diffs(ours16["logprobs"], hf16["logprobs"])
            if hf32:  # each bf16 run against the f32 one: how far bf16 itself moves them
                c["bf16_cadrl_vs_f32"] = diffs(ours16["logprobs"], hf32["logprobs"])
                c["bf16_transformers_vs_f32"] = diffs(hf16["logprobs"], hf32["logprobs"])
        g1, g2 = get("parity_f32", "cadrl", "greedy"), get("parity_f32", "transformers", "greedy")
        if g1 and g2:
            t1, t2 = g1["token_ids"], g2["token_ids"]
            same = next((i for i, (x, y) in enumerate(zip(t1, t2)) if x != y), min(len(t1), len(t2)))
            c["greedy"] = {"tokens": len(t2), "identical": t1 == t2, "common_prefix": same}
        for name in (["sft", "dpo", "sample"] if full else []):
            o, h = ph.get(name, {}).get("cadrl"), ph.get(name, {}).get("transformers")
            if not (o and h):
                continue
            po, phf = o["phases"][name], h["phases"][name]
            row = {"cadrl_mib": o["peak_mib"], "transformers_mib": h["peak_mib"],
                   "memory_ratio": o["peak_mib"] / h["peak_mib"]}
            if name == "sample":
                row |= {"cadrl_tokens_per_s": po["tokens_per_s"], "transformers_tokens_per_s": phf["tokens_per_s"],
                        "tokens_per_s_ratio": po["tokens_per_s"] / phf["tokens_per_s"]}
            else:
                row |= {"cadrl_s": po["seconds"], "transformers_s": phf["seconds"],
                        "time_ratio": po["seconds"] / phf["seconds"]}
            c[name] = row
        self.report["configs"][cfg]["compare"] = c
        self.save()

    def phases(self, cfg, model, full):
        a = self.a
        self.measure(cfg, "parity_f32", model, ["--dtype", "f32"],
                     ["--phase", "logprobs,greedy", "--max-new-tokens", str(a.greedy_tokens)], a.timeout)
        self.measure(cfg, "parity_bf16", model, ["--dtype", "bf16"], ["--phase", "logprobs"], a.timeout)
        if full:
            train = ["--dtype", a.train_dtype, "--lora-rank", "16", "--micro-batch", str(a.micro_batch),
                     "--steps", str(a.steps), "--warmup", "1", "--grad-checkpointing"]
            self.measure(cfg, "sft", model, train, ["--phase", "sft"], a.timeout)
            self.measure(cfg, "dpo", model, train, ["--phase", "dpo"], a.timeout)
            self.measure(cfg, "sample", model, ["--dtype", a.train_dtype],
                         ["--phase", "sample", "--n", str(a.samples), "--max-new-tokens", str(a.sample_tokens)],
                         a.timeout)
        self.compare(cfg, full)

    def pick_completion(self, model):
        """The synthetic program nearest the target length in tokens, and its render."""
        d = os.path.join(self.a.work, "synth")
        if not os.path.exists(os.path.join(d, "data.jsonl")):
            r = self.run("synth", [self.a.cadrl, "data", "synth", "--n", "16", "--seed", "3", "--out", d], 300)
            if r is None:
                raise SystemExit("cannot make the synthetic parts")
        tok = Tokenizer.from_file(os.path.join(model, "tokenizer.json"))
        rows = [json.loads(x) for x in open(os.path.join(d, "data.jsonl"))]
        best = min(rows, key=lambda r: abs(len(tok.encode(r["code"]).ids) - self.a.completion_tokens))
        self.completion = os.path.join(self.out, "completion.py")
        with open(self.completion, "w") as f:
            f.write(best["code"])
        self.image = os.path.join(d, best["image"])
        self.report["completion_tokens"] = len(tok.encode(best["code"]).ids) + 1
        self.save()

    def recipe(self, cfg, model):
        a = self.a
        runs = os.path.join(self.a.work, "runs")
        dt = a.train_dtype
        overrides = [
            f"model.path={model}", f"model.device={a.device}", f"model.dtype={dt}", f"run.log_dir={runs}",
            "data.source=synthetic", "data.n=16", "data.subset=all", "eval_data.source=synthetic", "eval_data.n=2",
            "eval_data.subset=all", "sft.steps=2", "sft.batch_size=4", "sft.micro_batch=4", "sft.eval_every=2",
            "sft.val_samples=2", "sft.warmup_steps=0", "eval.limit=2", "sample.images=2", "sample.k=2",
            "sample.include_reference=true", "dpo.rounds=1", "dpo.batch_size=2", "dpo.micro_batch=2",
            "dpo.warmup_steps=0", f"generation.max_new_tokens={a.recipe_tokens}", "generation.batch_images=2",
        ]
        cmd = [a.cadrl, "recipe", "run", os.path.join(ROOT, "recipes", "dpo_iou.toml")] + overrides
        r = self.run(f"{cfg}/recipe", cmd, a.timeout)
        rec = {"config": cfg, "overrides": overrides, "ok": r is not None}
        if r is not None:
            rec["seconds"] = r[1]
            rec["peak_mib"] = r[2]
            rundirs = sorted(os.listdir(runs))
            rec["run_dir"] = os.path.join(runs, rundirs[-1])
            rec["stages"] = stage_summary(os.path.join(rec["run_dir"], "state.json"))
        self.report["recipe"] = rec
        self.save()

    def main(self):
        a = self.a
        configs = ["small"] + ([] if a.no_3b else ["3b"])
        models = {}
        for cfg in configs:
            m = self.config(cfg)
            if m:
                models[cfg] = m
        if not models:
            return self.finish()
        self.pick_completion(next(iter(models.values())))
        for cfg, m in models.items():
            # small on a GPU: only the parity checks (the 3B gets the timings)
            self.phases(cfg, m, full=(cfg == "3b" or len(configs) == 1))
        big = "3b" if "3b" in models else "small"
        if big in models and not a.no_recipe:
            self.recipe(big, models[big])
        return self.finish()

    def finish(self):
        self.report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        self.save()
        print(markdown(self.report))
        return 1 if self.report["failures"] else 0


class PeakGpu:
    """Peak device memory in use (MiB) above its level when started, sampled by nvidia-smi."""

    def __init__(self, index):
        q = ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", index]
        r = subprocess.run(q, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"nvidia-smi cannot read the GPU's memory: {r.stderr.strip()}")
        self.base = float(r.stdout.strip())
        self.peak = self.base
        self.p = subprocess.Popen(q + ["-lms", "50"], stdout=subprocess.PIPE, text=True)
        self.t = threading.Thread(target=self.read)
        self.t.start()

    def read(self):
        for line in self.p.stdout:
            try:
                self.peak = max(self.peak, float(line.strip()))
            except ValueError:
                pass

    def stop(self):
        self.p.terminate()
        self.t.join()
        return self.peak - self.base


def diffs(a, b):
    if len(a) != len(b):
        return {"error": f"token counts differ: {len(a)} vs {len(b)}"}
    d = [abs(x - y) for x, y in zip(a, b)]
    return {"tokens": len(d), "max_abs_diff": max(d), "mean_abs_diff": sum(d) / len(d),
            "mean_logprob": sum(b) / len(b)}


def stage_summary(state_path):
    """Each finished stage's metrics (and seconds), from the run's state.json."""
    if not os.path.exists(state_path):
        return {}
    return {name: {k: v for k, v in kv if isinstance(v, (int, float))}
            for _, name, kv in json.load(open(state_path)).get("results", [])}


def markdown(r):
    t = r["targets"]
    lines = [f"# Device check ({r['device']})", "", "Versions: " + ", ".join(f"{k} {v}" for k, v in r["env"].items()), ""]
    for cfg, e in r["configs"].items():
        c = e.get("compare", {})
        lines += [f"## {cfg}" + (f" ({e['checkpoint']['params'] / 1e9:.2f} B parameters)" if "checkpoint" in e else ""),
                  "", "| check | cadrl | transformers | ratio / diff | target | ok |", "| --- | ---: | ---: | ---: | ---: | --- |"]
        for key, name in [("f32", "log-probs f32"), ("bf16", "log-probs bf16")]:
            if key in c and "mean_abs_diff" in c[key]:
                d = c[key]
                lim = t[f"{key}_mean_abs_diff"]
                lines.append(f"| {name}: mean / max abs diff (nats/token, {d['tokens']} tokens) | | | "
                             f"{d['mean_abs_diff']:.2e} / {d['max_abs_diff']:.2e} | <= {lim:g} | "
                             f"{'yes' if d['mean_abs_diff'] <= lim else 'NO'} |")
        for key, who in [("bf16_cadrl_vs_f32", "cadrl"), ("bf16_transformers_vs_f32", "transformers")]:
            if key in c and "mean_abs_diff" in c[key]:
                lines.append(f"| bf16 vs f32 ({who}): mean abs diff | | | {c[key]['mean_abs_diff']:.2e} | | |")
        if "greedy" in c:
            g = c["greedy"]
            lines.append(f"| greedy tokens f32 (identical / common prefix of {g['tokens']}) | | | "
                         f"{g['identical']} / {g['common_prefix']} | identical | {'yes' if g['identical'] else 'NO'} |")
        for key, name in [("sft", "LoRA SFT step (s)"), ("dpo", "DPO step (s)")]:
            if key in c:
                x = c[key]
                lines.append(f"| {name} | {x['cadrl_s']:.3f} | {x['transformers_s']:.3f} | {x['time_ratio']:.2f}x | "
                             f"<= {t['step_time_ratio']:g}x | {'yes' if x['time_ratio'] <= t['step_time_ratio'] else 'NO'} |")
        if "sample" in c:
            x = c["sample"]
            ok = x["tokens_per_s_ratio"] >= t["sample_tokens_per_s_ratio"]
            lines.append(f"| sampling (tokens/s) | {x['cadrl_tokens_per_s']:.1f} | {x['transformers_tokens_per_s']:.1f} | "
                         f"{x['tokens_per_s_ratio']:.2f}x | >= {t['sample_tokens_per_s_ratio']:g}x | {'yes' if ok else 'NO'} |")
        for key, name in [("sft", "SFT"), ("dpo", "DPO"), ("sample", "sampling")]:
            if key in c:
                x = c[key]
                ok = x["memory_ratio"] <= t["memory_ratio"]
                lines.append(f"| peak memory, {name} (MiB) | {x['cadrl_mib']:.0f} | {x['transformers_mib']:.0f} | "
                             f"{x['memory_ratio']:.2f}x | <= {t['memory_ratio']:g}x | {'yes' if ok else 'NO'} |")
        lines.append("")
    rec = r.get("recipe")
    if rec:
        lines += [f"## recipes/dpo_iou.toml end to end ({rec['config']})", "",
                  f"{'ok' if rec['ok'] else 'FAILED'}" + (f", {rec['seconds']:.0f} s, peak {rec['peak_mib']:.0f} MiB"
                                                          if rec["ok"] else ""), ""]
        for st, m in rec.get("stages", {}).items():
            keep = {k: v for k, v in m.items() if re.match(r"(train/loss|eval/vsr|eval/iou_mean|dpo/pairs|"
                                                           r"sample/valid_rate|sample/pairs|rewards/accuracies|seconds)$", k)}
            lines.append(f"- {st}: " + ", ".join(f"{k} {v:.4g}" for k, v in keep.items()))
        lines.append("")
    if r["failures"]:
        lines += ["## Failures", ""] + [f"- {f['where']}: {f['error'][:300]}" for f in r["failures"]] + [""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cadrl", required=True, help="the cadrl binary")
    ap.add_argument("--out", required=True, help="output directory: report.json, report.md, completion.py")
    ap.add_argument("--work", help="checkpoints, data and runs (default: --out; the 3B checkpoint is 7.5 GB)")
    ap.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    ap.add_argument("--no-3b", action="store_true", help="only the small configuration")
    ap.add_argument("--no-recipe", action="store_true", help="skip the end-to-end recipe run")
    ap.add_argument("--quick", action="store_true", help="CPU test sizes: short completion, 4 samples of 16 tokens")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per process")
    a = ap.parse_args()
    a.out = os.path.abspath(a.out)
    a.work = os.path.abspath(a.work or a.out)
    cpu = a.device == "cpu"
    a.no_3b = a.no_3b or cpu
    a.train_dtype = "f32" if cpu else "bf16"
    a.completion_tokens = 120 if a.quick else 350
    a.micro_batch = 2 if a.quick else 4
    a.steps = 1 if a.quick else 3
    a.samples = 4 if a.quick else 16
    a.sample_tokens = 16 if a.quick else 512
    a.greedy_tokens = 16 if a.quick else 64
    a.recipe_tokens = 16 if a.quick else 64
    sys.exit(Check(a).main())


if __name__ == "__main__":
    main()
