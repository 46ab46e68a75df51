"""Make tiny random Qwen2.5-VL checkpoints (Hugging Face layout) and reference outputs.

Usage: python make_tiny.py OUT_DIR

For every config variant NAME this writes OUT_DIR/NAME/ with config.json,
model.safetensors, tokenizer.json, tokenizer_config.json (with the Qwen2.5-VL
chat template), preprocessor_config.json and generation_config.json, plus
OUT_DIR/NAME/ref/: reference outputs computed with transformers (and PEFT):
  ref.json              input ids, grid_thw, per-token log-probs, greedy tokens and their
                        full-forward log-probs, a two-image prompt ("multi")
  pixels.safetensors    processor pixel values per test image
  peft_adapter/         an adapter saved by PEFT (non-zero B) + its log-probs in ref.json
Test images are written to OUT_DIR/images/*.png. Everything is deterministic.

Weights are sharp (matrices N(0, 0.25^2)): attention is far from uniform, so position,
mask or pixel errors move log-probs by whole nats instead of hiding below 1e-3. tiny-a and
tiny-b use transformers' default image processor (torchvision), tiny-c the Pillow one
(`image_backend: "pil"` in its preprocessor_config.json, which cadrl reads).
"""

import json
import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image

try:
    import torchvision  # noqa: F401  (transformers 5's default Qwen2-VL image processor needs it)
except ImportError:
    sys.exit("torchvision is missing from this venv: run `bash scripts/bootstrap.sh` (it installs torchvision "
             "0.26.0 next to torch 2.11.0); without it transformers silently falls back to the Pillow processor")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers  # noqa: E402
from transformers import (  # noqa: E402
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2VLImageProcessor,
    Qwen2VLImageProcessorPil,
)

PROMPT = (
    "Generate the CADQuery code needed to create the CAD for the provided image. "
    "Just the code, no other words."
)
SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
CHAT_TEMPLATE = (
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
QWEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
CORPUS = [
    PROMPT,
    "import cadquery as cq\nresult = cq.Workplane('XY').box(10, 20, 5)\n",
    "import cadquery as cq\nr = cq.Workplane('XY').circle(4.5).extrude(12).faces('>Z').hole(2)\n",
    "w = cq.Workplane('XZ').rect(30, 8).extrude(3).edges('|Z').fillet(0.5)\n",
    "sketch = cq.Sketch().rect(1, 2).vertices().fillet(0.1)\nresult = w.union(r)\n",
    "You are a helpful assistant. system user assistant 0123456789 .,:;()[]{}'\"=+-*/<>_\n",
]
COMPLETIONS = [
    "import cadquery as cq\nresult = cq.Workplane('XY').box(10, 20, 5)",
    "r = cq.Workplane('XZ').circle(4.5).extrude(12)\n",
    "w",
]
# (name, text, vision); heads/GQA ratios, mrope sections, windows and tying vary.
CONFIGS = [
    (
        "tiny-a",
        dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=3,
             num_key_value_heads=1, mrope=[2, 3, 3], tie=True),
        dict(depth=3, hidden_size=32, intermediate_size=64, num_heads=2, window_size=56,
             fullatt_block_indexes=[1]),
    ),
    (
        "tiny-b",
        dict(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
             num_key_value_heads=2, mrope=[4, 2, 2], tie=False),
        dict(depth=4, hidden_size=48, intermediate_size=80, num_heads=3, window_size=112,
             fullatt_block_indexes=[0, 3]),
    ),
    (
        "tiny-c",
        dict(hidden_size=40, intermediate_size=72, num_hidden_layers=2, num_attention_heads=5,
             num_key_value_heads=5, mrope=[1, 2, 1], tie=False),
        dict(depth=2, hidden_size=40, intermediate_size=56, num_heads=5, window_size=28,
             fullatt_block_indexes=[1]),
    ),
]
MIN_PIXELS = 28 * 28 * 4
MAX_PIXELS = 28 * 28 * 20
# (width, height): above max_pixels, resized (down, up), resized, an exact grid (not resized)
IMAGE_SIZES = [(448, 448), (100, 61), (37, 90), (57, 140), (112, 84)]
SCORED = [0, 1, 2, 4]  # images with reference completions and greedy decodes
MULTI = [1, 4]  # the images of the two-image prompt
WEIGHT_STD = 0.25


def make_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=420, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 4, trainer)
    return tok


def make_images(out):
    rng = np.random.default_rng(1234)
    paths = []
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    for i, (w, h) in enumerate(IMAGE_SIZES):
        # smooth-ish content plus noise so resampling is exercised
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([(xx * 3 + yy) % 256, (yy * 5) % 256, (xx * yy) % 256], -1)
        noise = rng.integers(0, 64, size=(h, w, 3))
        arr = ((base + noise) % 256).astype(np.uint8)
        p = os.path.join(out, "images", f"img{i}_{w}x{h}.png")
        Image.fromarray(arr).save(p)
        paths.append(p)
    return paths


def build_prompt_ids(tokenizer, image_processor, grids):
    content = [{"type": "image"} for _ in grids] + [{"type": "text", "text": PROMPT}]
    messages = [{"role": "user", "content": content}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    merge = image_processor.merge_size
    for grid_thw in grids:
        n = int(np.prod(grid_thw)) // (merge * merge)
        text = text.replace("<|image_pad|>", "<|placeholder|>" * n, 1)
    text = text.replace("<|placeholder|>", "<|image_pad|>")
    return text, tokenizer(text, add_special_tokens=False)["input_ids"]


@torch.no_grad()
def completion_logprobs(model, prompt_ids, comp_ids, pixel_values, grid_thw, image_token_id):
    ids = torch.tensor([prompt_ids + comp_ids])
    mm = (ids == image_token_id).int()
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pixel_values,
                image_grid_thw=grid_thw, mm_token_type_ids=mm)
    logp = torch.log_softmax(out.logits[0].float(), -1)
    p = len(prompt_ids)
    return [float(logp[p - 1 + i, t]) for i, t in enumerate(comp_ids)]


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    tok_obj = make_tokenizer()
    images = make_images(out)
    for ci, (name, tc, vc) in enumerate(CONFIGS):
        d = os.path.join(out, name)
        if os.path.exists(d):
            shutil.rmtree(d)
        os.makedirs(os.path.join(d, "ref"))
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=tok_obj, eos_token="<|im_end|>", pad_token="<|endoftext|>",
            unk_token=None, chat_template=CHAT_TEMPLATE, model_max_length=4096,
        )
        tokenizer.save_pretrained(d)
        tcj = json.load(open(os.path.join(d, "tokenizer_config.json")))
        tcj["chat_template"] = CHAT_TEMPLATE
        json.dump(tcj, open(os.path.join(d, "tokenizer_config.json"), "w"), indent=2)
        vocab = tok_obj.get_vocab_size()
        tid = tok_obj.token_to_id
        head_dim = tc["hidden_size"] // tc["num_attention_heads"]
        assert sum(tc["mrope"]) * 2 == head_dim, name
        cfg = Qwen2_5_VLConfig(
            text_config=dict(
                vocab_size=vocab + 3, hidden_size=tc["hidden_size"], intermediate_size=tc["intermediate_size"],
                num_hidden_layers=tc["num_hidden_layers"], num_attention_heads=tc["num_attention_heads"],
                num_key_value_heads=tc["num_key_value_heads"], rms_norm_eps=1e-6, max_position_embeddings=4096,
                rope_parameters={"rope_type": "default", "mrope_section": tc["mrope"], "rope_theta": 1000000.0},
                bos_token_id=tid("<|endoftext|>"), eos_token_id=tid("<|im_end|>"),
                pad_token_id=tid("<|endoftext|>"), tie_word_embeddings=tc["tie"],
            ),
            vision_config=dict(
                depth=vc["depth"], hidden_size=vc["hidden_size"], intermediate_size=vc["intermediate_size"],
                num_heads=vc["num_heads"], out_hidden_size=tc["hidden_size"], window_size=vc["window_size"],
                fullatt_block_indexes=vc["fullatt_block_indexes"], patch_size=14, spatial_merge_size=2,
                temporal_patch_size=2, tokens_per_second=2,
            ),
            image_token_id=tid("<|image_pad|>"), video_token_id=tid("<|video_pad|>"),
            vision_start_token_id=tid("<|vision_start|>"), vision_end_token_id=tid("<|vision_end|>"),
            tie_word_embeddings=tc["tie"], bos_token_id=tid("<|endoftext|>"), eos_token_id=tid("<|im_end|>"),
        )
        torch.manual_seed(100 + ci)
        model = Qwen2_5_VLForConditionalGeneration(cfg).eval()
        # Sharp random weights: peaked attention and clear greedy winners.
        g = torch.Generator().manual_seed(200 + ci)
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "norm" in n or "ln_q" in n:
                    p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
                elif p.dim() == 1:
                    p.copy_(0.1 * torch.randn(p.shape, generator=g))
                else:
                    p.copy_(WEIGHT_STD * torch.randn(p.shape, generator=g))
        model.generation_config.eos_token_id = tid("<|im_end|>")
        model.generation_config.pad_token_id = tid("<|endoftext|>")
        model.generation_config.do_sample = False
        model.save_pretrained(d, safe_serialization=True)
        if name == "tiny-a":
            model.save_pretrained(d + "-sharded", safe_serialization=True, max_shard_size="40KB")
            for f in os.listdir(d):
                if f.startswith("tokenizer") or f.startswith("preprocessor") or f.startswith("chat_template"):
                    shutil.copy(os.path.join(d, f), d + "-sharded")
        backend = "pil" if name == "tiny-c" else "torchvision"
        ip_class = Qwen2VLImageProcessorPil if backend == "pil" else Qwen2VLImageProcessor
        ip = ip_class(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS, patch_size=14, temporal_patch_size=2,
                      merge_size=2)
        for dd in [d, d + "-sharded"] if name == "tiny-a" else [d]:
            ip.save_pretrained(dd)
            pp = os.path.join(dd, "preprocessor_config.json")
            pj = json.load(open(pp))
            pj["image_backend"] = backend
            json.dump(pj, open(pp, "w"), indent=2)

        ref = {"images": [], "vocab_size": vocab + 3, "image_backend": backend}
        pix = {}
        for ii, path in enumerate(images):
            img = Image.open(path).convert("RGB")
            feats = ip(images=[img], return_tensors="pt")
            pv, grid = feats["pixel_values"], feats["image_grid_thw"]
            pix[f"pixel_values_{ii}"] = pv.contiguous()
            text, prompt_ids = build_prompt_ids(tokenizer, ip, [grid[0].tolist()])
            entry = {"path": os.path.basename(path), "grid_thw": grid[0].tolist(), "prompt_text": text,
                     "prompt_ids": prompt_ids, "completions": []}
            if ii in SCORED:
                for comp in COMPLETIONS:
                    comp_ids = tokenizer(comp, add_special_tokens=False)["input_ids"] + [tid("<|im_end|>")]
                    lp = completion_logprobs(model, prompt_ids, comp_ids, pv, grid, cfg.image_token_id)
                    entry["completions"].append({"text": comp, "token_ids": comp_ids, "logprobs": lp})
                ids = torch.tensor([prompt_ids])
                with torch.no_grad():
                    gen = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pv,
                                         image_grid_thw=grid, mm_token_type_ids=(ids == cfg.image_token_id).int(),
                                         max_new_tokens=16, do_sample=False)
                entry["greedy"] = gen[0, len(prompt_ids):].tolist()
                # full forward over prompt + greedy tokens: what KV-cache decoding must give (up
                # to a generated <|image_pad|>, which a forward pass would take for an image slot)
                g_ids = entry["greedy"]
                if cfg.image_token_id in g_ids:
                    g_ids = g_ids[: g_ids.index(cfg.image_token_id)]
                entry["greedy_logprobs"] = completion_logprobs(model, prompt_ids, g_ids, pv, grid,
                                                               cfg.image_token_id)
            ref["images"].append(entry)
        # Two images in one prompt.
        pv = torch.cat([pix[f"pixel_values_{i}"] for i in MULTI])
        grids = [ref["images"][i]["grid_thw"] for i in MULTI]
        _, prompt_ids = build_prompt_ids(tokenizer, ip, grids)
        comp_ids = tokenizer(COMPLETIONS[0], add_special_tokens=False)["input_ids"] + [tid("<|im_end|>")]
        ref["multi"] = {"images": MULTI, "grids": grids, "prompt_ids": prompt_ids, "token_ids": comp_ids,
                        "logprobs": completion_logprobs(model, prompt_ids, comp_ids, pv, torch.tensor(grids),
                                                        cfg.image_token_id)}
        from safetensors.torch import save_file

        save_file(pix, os.path.join(d, "ref", "pixels.safetensors"))

        # A PEFT adapter with non-zero weights, and PEFT's log-probs through it.
        if name in ("tiny-a", "tiny-b"):
            from peft import LoraConfig, get_peft_model

            targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
            if name == "tiny-b":
                targets = targets + ["qkv", "attn.proj"]
            lcfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=targets)
            pm = get_peft_model(model, lcfg)
            gg = torch.Generator().manual_seed(300 + ci)
            with torch.no_grad():
                for n, p in pm.named_parameters():
                    if "lora_" in n:
                        p.copy_(0.2 * torch.randn(p.shape, generator=gg))
            pm.eval()
            pm.save_pretrained(os.path.join(d, "ref", "peft_adapter"))
            entry = ref["images"][1]
            pv = pix["pixel_values_1"]
            grid = torch.tensor([entry["grid_thw"]])
            ref["peft"] = []
            for c in entry["completions"]:
                ref["peft"].append(completion_logprobs(pm, entry["prompt_ids"], c["token_ids"], pv, grid,
                                                       cfg.image_token_id))
        json.dump(ref, open(os.path.join(d, "ref", "ref.json"), "w"))
        print("wrote", d)
    print("done")


if __name__ == "__main__":
    main()
