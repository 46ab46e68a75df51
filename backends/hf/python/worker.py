"""cadrl's transformers worker: one Qwen2.5-VL policy (+ a PEFT adapter) served over JSON lines.

The Rust side (`cadrl-backend-hf`, src/worker.rs) starts `python worker.py` and writes one
request per line on stdin: {"op": NAME, ...arguments}. Each request gets exactly one reply
line on stdout: {"ok": true, "result": ...} or {"ok": false, "error": "Type: message",
"traceback": "..."}. Anything else the process prints (transformers' warnings, a crash)
goes to stderr, whose tail the Rust side keeps for its error messages.

Ops: load, generate, logprobs, load_adapter. Token conventions are those of the tch
backend (backends/tch/src/chat.rs, generate.rs, policy.rs): the prompt is the chat template
rendered for one user turn (image, then text) with `<|image_pad|>` repeated once per merged
vision token, tokenized without special tokens; a completion is its tokens followed by
`<|im_end|>`; generated candidates include the stop token they stopped on; every log-prob
is the model's own distribution at temperature 1 (no warpers).
"""

import base64
import contextlib
import json
import os
import sys
import traceback

# Qwen2.5-VL's chat template, used when the checkpoint has none (the same text as
# QWEN25VL_TEMPLATE in backends/tch/src/chat.rs).
QWEN25VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture "
    "{{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video "
    "{{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
DTYPES = {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}
# Sequences per forward pass when scoring.
SCORE_BATCH = int(os.environ.get("CADRL_HF_SCORE_BATCH", "8"))


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_template(d):
    """The chat template, looked up as the tch backend does: chat_template.jinja, then
    chat_template.json, then tokenizer_config.json (a string, or the `default` entry)."""
    p = os.path.join(d, "chat_template.jinja")
    if os.path.exists(p):
        with open(p, encoding="utf-8") as f:
            return f.read()
    for name in ("chat_template.json", "tokenizer_config.json"):
        p = os.path.join(d, name)
        if not os.path.exists(p):
            continue
        t = read_json(p).get("chat_template")
        if isinstance(t, str):
            return t
        if isinstance(t, list):
            for e in t:
                if e.get("name") == "default" and isinstance(e.get("template"), str):
                    return e["template"]
    return None


def as_ids(v):
    if v is None:
        return []
    return [int(x) for x in (v if isinstance(v, list) else [v])]


class Worker:
    def __init__(self):
        self.model = None

    # -- ops ---------------------------------------------------------------------------

    def op_load(self, path, device, dtype, seed=None, threads=None):
        import torch
        from transformers import (
            AutoTokenizer,
            GenerationConfig,
            Qwen2_5_VLForConditionalGeneration,
            Qwen2VLImageProcessor,
            Qwen2VLImageProcessorPil,
        )

        if threads:
            torch.set_num_threads(int(threads))
        if seed is not None:
            torch.manual_seed(int(seed))
        torch.set_grad_enabled(False)
        self.torch = torch
        self.device = torch.device(device)
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path, dtype=getattr(torch, DTYPES[dtype]))
        model = model.to(self.device).eval()
        pp = read_json(os.path.join(path, "preprocessor_config.json"))
        self.image_backend = "pil" if pp.get("image_backend") == "pil" else "torchvision"
        ip_class = Qwen2VLImageProcessorPil if self.image_backend == "pil" else Qwen2VLImageProcessor
        self.ip = ip_class.from_pretrained(path)
        self.merge = int(self.ip.merge_size)
        self.tok = AutoTokenizer.from_pretrained(path)
        self.template = read_template(path) or self.tok.chat_template or QWEN25VL_TEMPLATE

        def token(t):
            i = self.tok.convert_tokens_to_ids(t)
            if i is None or i == self.tok.unk_token_id:
                raise ValueError(f"{path}: special token `{t}` missing from the tokenizer")
            return int(i)

        self.im_end = token("<|im_end|>")
        self.image_pad = token("<|image_pad|>")
        eot = self.tok.convert_tokens_to_ids("<|endoftext|>")
        self.pad = int(eot) if eot is not None and eot != self.tok.unk_token_id else self.im_end
        # Stop ids as the tch backend collects them: <|im_end|>, config.json's eos ids
        # (top level, else the text config's) and generation_config.json's.
        cfg = read_json(os.path.join(path, "config.json"))
        eos = as_ids(cfg.get("eos_token_id")) or as_ids(cfg.get("text_config", {}).get("eos_token_id"))
        gpath = os.path.join(path, "generation_config.json")
        if os.path.exists(gpath):
            eos += as_ids(read_json(gpath).get("eos_token_id"))
        self.stop_ids = sorted({self.im_end, *eos})
        # Nothing is inherited from the checkpoint's generation defaults (repetition
        # penalty, top_k, ...): each generate call states every setting it uses.
        model.generation_config = GenerationConfig(eos_token_id=self.stop_ids, pad_token_id=self.pad)
        self.model = model
        return {
            "image_backend": self.image_backend,
            "stop_ids": self.stop_ids,
            "im_end_id": self.im_end,
            "dtype": str(next(model.parameters()).dtype),
            "device": str(self.device),
        }

    def op_load_adapter(self, dir):
        from peft import PeftModel

        self.need_model()
        base = self.model.unload() if isinstance(self.model, PeftModel) else self.model
        self.model = PeftModel.from_pretrained(base, dir, is_trainable=False).eval()
        return {"adapter": dir}

    def op_generate(self, images, prompt, n, temperature, top_p, top_k, max_new_tokens, seed):
        from transformers import GenerationConfig

        self.need_model()
        torch = self.torch
        if not images:
            return []
        n = max(1, int(n))
        items = [self.prompt_item(img, prompt) for img in images]
        width = max(len(ids) for ids, _, _ in items)
        # Left padding: every prompt ends at the last column, where decoding starts.
        ids = torch.full((len(items), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for r, (p, _, _) in enumerate(items):
            ids[r, width - len(p):] = torch.tensor(p)
            mask[r, width - len(p):] = 1
        sampling = temperature > 0
        gc = dict(
            max_new_tokens=int(max_new_tokens), eos_token_id=self.stop_ids, pad_token_id=self.pad,
            do_sample=sampling, num_beams=1, repetition_penalty=1.0, output_logits=True,
            return_dict_in_generate=True, use_cache=True,
        )
        if sampling:
            gc.update(temperature=float(temperature), top_p=float(top_p), top_k=int(top_k),
                      num_return_sequences=n)
        torch.manual_seed(int(seed))
        out = self.model.generate(
            **self.model_inputs(ids, mask, items), generation_config=GenerationConfig(**gc),
        )
        new = out.sequences[:, width:].cpu()
        logp = [torch.log_softmax(s.float(), -1).cpu() for s in out.logits]
        rows = []
        for r in range(new.shape[0]):
            toks, lps = [], []
            for t in range(min(new.shape[1], len(logp))):
                tid = int(new[r, t])
                toks.append(tid)
                lps.append(float(logp[t][r, tid]))
                if tid in self.stop_ids:
                    break
            rows.append({
                "text": self.tok.decode(toks, skip_special_tokens=True, clean_up_tokenization_spaces=False),
                "token_ids": toks,
                "logprobs": lps,
                "finished": bool(toks) and toks[-1] in self.stop_ids,
            })
        per = n if sampling else 1
        res = [rows[i * per:(i + 1) * per] for i in range(len(items))]
        if not sampling:  # greedy: the n candidates are one decode
            res = [[dict(c[0]) for _ in range(n)] for c in res]
        return res

    def op_logprobs(self, examples, adapter_on):
        self.need_model()
        torch = self.torch
        out = []
        ctx = contextlib.nullcontext()
        if not adapter_on and hasattr(self.model, "disable_adapter"):
            ctx = self.model.disable_adapter()
        with ctx:
            cache = {}
            for start in range(0, len(examples), max(1, SCORE_BATCH)):
                chunk = examples[start:start + max(1, SCORE_BATCH)]
                items, comps = [], []
                for e in chunk:
                    key = json.dumps(e["image"], sort_keys=True)
                    if key not in cache:
                        cache[key] = self.process_image(e["image"])
                    items.append(self.prompt_item(e["image"], e["prompt"], cache[key]))
                    comps.append(self.tok(e["completion"], add_special_tokens=False)["input_ids"] + [self.im_end])
                lens = [len(p) + len(c) for (p, _, _), c in zip(items, comps)]
                width = max(lens)
                # Right padding: a causal model never reads the pads after a row's tokens.
                ids = torch.full((len(items), width), self.pad, dtype=torch.long)
                mask = torch.zeros((len(items), width), dtype=torch.long)
                for r, ((p, _, _), c) in enumerate(zip(items, comps)):
                    ids[r, :lens[r]] = torch.tensor(p + c)
                    mask[r, :lens[r]] = 1
                # Logits only from the first completion position on.
                first = min(len(p) for p, _, _ in items) - 1
                keep = width - first
                logits = self.model(**self.model_inputs(ids, mask, items), logits_to_keep=keep,
                                    use_cache=False).logits
                logp = torch.log_softmax(logits.float(), -1).cpu()
                for r, ((p, _, _), c) in enumerate(zip(items, comps)):
                    cols = torch.arange(len(p) - 1, len(p) - 1 + len(c)) - first
                    out.append(logp[r, cols, torch.tensor(c)].tolist())
        return out

    # -- helpers -----------------------------------------------------------------------

    def need_model(self):
        if self.model is None:
            raise RuntimeError("no model loaded (send `load` first)")

    def process_image(self, img):
        from PIL import Image

        if "path" in img:
            with Image.open(img["path"]) as im:
                pil = im.convert("RGB")
        else:
            w, h = int(img["width"]), int(img["height"])
            data = base64.b64decode(img["rgb8"])
            if len(data) != 3 * w * h:
                raise ValueError(f"rgb8 image of {w}x{h} has {len(data)} bytes, not {3 * w * h}")
            pil = Image.frombytes("RGB", (w, h), data)
        f = self.ip(images=[pil], return_tensors="pt")
        return f["pixel_values"], f["image_grid_thw"]

    def prompt_item(self, img, prompt, processed=None):
        """(prompt ids, pixel values, grid_thw) of one user turn: the image, then `prompt`."""
        pv, grid = processed if processed is not None else self.process_image(img)
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        text = self.tok.apply_chat_template(messages, chat_template=self.template, tokenize=False,
                                            add_generation_prompt=True, add_vision_id=False)
        pos = text.find("<|image_pad|>")
        if pos < 0:
            raise ValueError("the chat template produced no <|image_pad|>")
        n = int(grid[0].prod()) // (self.merge * self.merge)
        text = text[:pos] + "<|image_pad|>" * n + text[pos + len("<|image_pad|>"):]
        return self.tok(text, add_special_tokens=False)["input_ids"], pv, grid

    def model_inputs(self, ids, mask, items):
        torch = self.torch
        dev = self.device
        return dict(
            input_ids=ids.to(dev),
            attention_mask=mask.to(dev),
            pixel_values=torch.cat([pv for _, pv, _ in items]).to(dev),
            image_grid_thw=torch.cat([g for _, _, g in items]).to(dev),
            mm_token_type_ids=((ids == self.image_pad) & (mask == 1)).int().to(dev),
        )


def main():
    # Replies go to the original stdout; everything else printed in this process (libraries,
    # warnings) goes to stderr, so that no stray line breaks the protocol.
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    w = Worker()
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            op = req.pop("op")
            fn = getattr(w, "op_" + op, None)
            if fn is None:
                raise ValueError(f"unknown op `{op}`")
            reply = {"ok": True, "result": fn(**req)}
        except Exception as e:  # noqa: BLE001 (every failure is a reply)
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
