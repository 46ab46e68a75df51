"""The phases of `cadrl measure`, on transformers (+PEFT), with the same shapes and settings.

Usage: python hf_measure.py --model DIR --image PNG --completion FILE --phase sft[,dpo,...]
       [--device cpu|cuda] [--dtype f32|bf16] [--lora-rank 16] [--micro-batch 4]
       [--grad-checkpointing] [--steps 3] [--warmup 1] [--n 16] [--max-new-tokens 512]
       [--temperature 1.0] [--seed 0]

Prints one JSON line per phase with the keys `cadrl measure` prints. What a user of
transformers would write: `Qwen2_5_VLForConditionalGeneration` with the checkpoint's image
processor and chat template; LoRA through PEFT on the decoder's seven projections (adapters
f32 over a bf16 base, PEFT's default), AdamW and gradient clipping at 1.0 as in cadrl;
SFT on `micro_batch` copies of the example in one batch; DPO on `micro_batch` pairs (chosen
and rejected in one padded batch, TRL's way) with reference log-probs computed once with the
adapters off; sampling with `generate(num_return_sequences=n)`.
"""

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402
from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration  # noqa: E402

PROMPT = ("Generate the CADQuery code needed to create the CAD for the provided image. "
          "Just the code, no other words.")
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}


def rejected(chosen):
    """The chosen completion with every digit d replaced by (d + 3) mod 10, as cadrl does."""
    return "".join(str((int(c) + 3) % 10) if c in "0123456789" else c for c in chosen)


class Inputs:
    def __init__(self, model_dir, image, device):
        self.tok = AutoTokenizer.from_pretrained(model_dir)
        pj = json.load(open(os.path.join(model_dir, "preprocessor_config.json")))
        if pj.get("image_backend") == "pil":
            from transformers import Qwen2VLImageProcessorPil as Ip
        else:
            from transformers import Qwen2VLImageProcessor as Ip
        ip = Ip.from_pretrained(model_dir)
        feats = ip(images=[Image.open(image).convert("RGB")], return_tensors="pt")
        self.pixel_values = feats["pixel_values"].to(device)
        self.grid = feats["image_grid_thw"].to(device)
        msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": PROMPT}]}]
        text = self.tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        k = int(self.grid.prod()) // (ip.merge_size ** 2)
        text = text.replace("<|image_pad|>", "<|image_pad|>" * k, 1)
        self.prompt = self.tok(text, add_special_tokens=False)["input_ids"]
        self.im_end = self.tok.convert_tokens_to_ids("<|im_end|>")
        self.pad = self.tok.convert_tokens_to_ids("<|endoftext|>")
        self.device = device

    def completion_ids(self, text):
        return self.tok(text, add_special_tokens=False)["input_ids"] + [self.im_end]

    def batch(self, completions, image_token_id):
        """Right-padded prompt + completion rows; labels -100 outside the completions."""
        rows = [self.prompt + self.completion_ids(c) for c in completions]
        n = max(len(r) for r in rows)
        ids = torch.full((len(rows), n), self.pad, dtype=torch.long)
        mask = torch.zeros((len(rows), n), dtype=torch.long)
        labels = torch.full((len(rows), n), -100, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = torch.tensor(r)
            mask[i, :len(r)] = 1
            labels[i, len(self.prompt):len(r)] = torch.tensor(r[len(self.prompt):])
        ids, mask, labels = ids.to(self.device), mask.to(self.device), labels.to(self.device)
        b = len(rows)
        return dict(input_ids=ids, attention_mask=mask, pixel_values=self.pixel_values.repeat(b, 1),
                    image_grid_thw=self.grid.repeat(b, 1), mm_token_type_ids=(ids == image_token_id).int()), labels


def seq_logps(model, inputs, labels):
    """Per-row summed log-probs of the labelled tokens."""
    logits = model(**inputs).logits[:, :-1].float()
    tgt = labels[:, 1:]
    lp = torch.log_softmax(logits, -1).gather(-1, tgt.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (lp * (tgt != -100)).sum(-1)


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(device, warmup, steps, f):
    for _ in range(warmup):
        f()
    out = []
    for _ in range(steps):
        sync(device)
        t = time.perf_counter()
        f()
        sync(device)
        out.append(time.perf_counter() - t)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--completion", required=True)
    ap.add_argument("--phase", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="f32", choices=list(DTYPES))
    ap.add_argument("--lora-rank", type=int, default=16)
    ap.add_argument("--micro-batch", type=int, default=4)
    ap.add_argument("--grad-checkpointing", action="store_true")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=512)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    phases = a.phase.split(",")
    dev = a.device
    torch.manual_seed(a.seed)
    completion = open(a.completion).read()
    t0 = time.perf_counter()
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(a.model, dtype=DTYPES[a.dtype]).to(dev)
    image_token_id = model.config.image_token_id
    trains = any(p in ("sft", "dpo") for p in phases)
    peft = trains and a.lora_rank > 0
    if trains and a.grad_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if peft:
        from peft import LoraConfig, get_peft_model
        cfg = LoraConfig(r=a.lora_rank, lora_alpha=2 * a.lora_rank, lora_dropout=0.0, bias="none",
                         target_modules=r".*language_model.*\.(" + "|".join(TARGETS) + ")")
        model = get_peft_model(model, cfg)
    model.eval()
    inp = Inputs(a.model, a.image, dev)
    sync(dev)
    load_s = time.perf_counter() - t0
    params = [p for p in model.parameters() if p.requires_grad] if trains else []
    opt = torch.optim.AdamW(params, lr=1e-5, weight_decay=0.0, betas=(0.9, 0.999), eps=1e-8) if trains else None

    def update(loss):
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    for phase in phases:
        out = {"phase": phase, "backend": "transformers", "device": dev, "dtype": a.dtype, "load_s": load_s}
        if phase == "logprobs":
            comp = inp.completion_ids(completion)
            ids = torch.tensor([inp.prompt + comp], device=dev)
            sync(dev)
            t = time.perf_counter()
            with torch.no_grad():
                logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=inp.pixel_values,
                               image_grid_thw=inp.grid, mm_token_type_ids=(ids == image_token_id).int()).logits
                lp = torch.log_softmax(logits[0].float(), -1)
                p = len(inp.prompt)
                vals = [float(lp[p - 1 + i, tok]) for i, tok in enumerate(comp)]
            out.update(seconds=time.perf_counter() - t, tokens=len(vals), logprobs=vals)
        elif phase in ("greedy", "sample"):
            ids = torch.tensor([inp.prompt], device=dev)
            kw = dict(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=inp.pixel_values,
                      image_grid_thw=inp.grid, mm_token_type_ids=(ids == image_token_id).int(),
                      eos_token_id=inp.im_end, pad_token_id=inp.pad)
            if phase == "greedy":
                gen = dict(do_sample=False, num_beams=1, max_new_tokens=a.max_new_tokens)
            else:
                gen = dict(do_sample=True, temperature=a.temperature, top_p=1.0, top_k=0,
                           num_return_sequences=a.n, max_new_tokens=a.max_new_tokens)
                with torch.no_grad():  # warm-up, as cadrl's
                    model.generate(**kw, **{**gen, "max_new_tokens": 4})
            sync(dev)
            t = time.perf_counter()
            with torch.no_grad():
                seqs = model.generate(**kw, **gen)
            sync(dev)
            s = time.perf_counter() - t
            rows = []
            for r in seqs[:, ids.shape[1]:].tolist():
                rows.append(r[:r.index(inp.im_end) + 1] if inp.im_end in r else r)
            tokens = sum(len(r) for r in rows)
            out.update(seconds=s, tokens=tokens)
            if phase == "greedy":
                out["token_ids"] = rows[0]
            else:
                out["tokens_per_s"] = tokens / s
        elif phase == "sft":
            model.train()
            batch, labels = inp.batch([completion] * a.micro_batch, image_token_id)

            def step():
                update(model(**batch, labels=labels).loss)
            times = timed(dev, a.warmup, a.steps, step)
            out.update(seconds=statistics.median(times), step_seconds=times,
                       tokens=int((labels != -100).sum()))
        elif phase == "dpo":
            comps = [completion] * a.micro_batch + [rejected(completion)] * a.micro_batch
            batch, labels = inp.batch(comps, image_token_id)
            with torch.no_grad():
                if peft:
                    with model.disable_adapter():
                        ref = seq_logps(model, batch, labels)
                else:
                    ref = seq_logps(model, batch, labels)
            model.train()
            m = a.micro_batch

            def step():
                lp = seq_logps(model, batch, labels)
                h = (lp[:m] - ref[:m]) - (lp[m:] - ref[m:])
                update(-F.logsigmoid(0.1 * h).mean())
            times = timed(dev, a.warmup, a.steps, step)
            out.update(seconds=statistics.median(times), step_seconds=times)
        else:
            raise SystemExit(f"unknown phase {phase!r} (logprobs, greedy, sft, dpo, sample)")
        if dev.startswith("cuda"):
            out["torch_max_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
        model.eval()
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
