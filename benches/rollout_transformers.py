"""Rollout sampling with transformers, as TRL's GRPOTrainer does it without vLLM:
`generate(num_return_sequences=G)` for one image, matching benches/rollout.rs.

Usage: python rollout_transformers.py MODEL_DIR IMAGE MAX_NEW THREADS G [G ...]
Prints JSON: {"G": {"programs_per_s", "tokens_per_s", "seconds"}} (mean of 3 after a warm-up).
"""

import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration, Qwen2VLImageProcessor  # noqa: E402

PROMPT = ("Generate the CADQuery code needed to create the CAD for the provided image. "
          "Just the code, no other words.")


def main():
    model_dir, image, max_new, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    gs = [int(g) for g in sys.argv[5:]]
    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(model_dir)
    ip = Qwen2VLImageProcessor.from_pretrained(model_dir)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32).eval()
    feats = ip(images=[Image.open(image).convert("RGB")], return_tensors="pt")
    pv, grid = feats["pixel_values"], feats["image_grid_thw"]
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": PROMPT}]}]
    text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    text = text.replace("<|image_pad|>", "<|image_pad|>" * (int(grid.prod()) // 4), 1)
    ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
    mm = (ids == model.config.image_token_id).int()
    out = {}
    for g in gs:
        def gen():
            with torch.no_grad():
                s = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pv,
                                   image_grid_thw=grid, mm_token_type_ids=mm, do_sample=True, temperature=1.0,
                                   top_p=1.0, top_k=0, num_return_sequences=g, max_new_tokens=max_new,
                                   min_new_tokens=max_new)
            return [tok.decode(r[ids.shape[1]:], skip_special_tokens=True) for r in s]
        gen()
        t = time.perf_counter()
        for _ in range(3):
            texts = gen()
        mean = (time.perf_counter() - t) / 3
        assert len(texts) == g
        out[str(g)] = {"programs_per_s": g / mean, "tokens_per_s": g * max_new / mean, "seconds": mean}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
