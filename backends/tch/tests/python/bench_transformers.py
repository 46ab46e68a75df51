"""Time transformers (+PEFT) on the bench checkpoint, matching benches/vs_transformers.rs.

Usage: python bench_transformers.py MODEL_DIR IMAGE N MAX_NEW TRAIN_BATCH THREADS
Prints JSON: {"gen_tokens_per_s", "gen_s", "train_step_s"}.
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
COMPLETION = "import cadquery as cq\nresult = cq.Workplane('XY').box(10, 20, 5).faces('>Z').hole(2)\n"


def main():
    model_dir, image, n, max_new, tb, threads = sys.argv[1:7]
    n, max_new, tb, threads = int(n), int(max_new), int(tb), int(threads)
    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(model_dir)
    ip = Qwen2VLImageProcessor.from_pretrained(model_dir)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32).eval()
    img = Image.open(image).convert("RGB")
    feats = ip(images=[img], return_tensors="pt")
    pv, grid = feats["pixel_values"], feats["image_grid_thw"]
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": PROMPT}]}]
    text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    k = int(grid.prod()) // 4
    text = text.replace("<|image_pad|>", "<|image_pad|>" * k, 1)
    ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
    mm = (ids == model.config.image_token_id).int()

    def gen():
        with torch.no_grad():
            torch.manual_seed(0)
            return model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pv,
                                  image_grid_thw=grid, mm_token_type_ids=mm, do_sample=True, temperature=1.0,
                                  top_p=0.95, top_k=0, num_return_sequences=n, max_new_tokens=max_new,
                                  min_new_tokens=max_new)

    gen()
    reps = 3
    t0 = time.perf_counter()
    for _ in range(reps):
        out = gen()
    gen_s = (time.perf_counter() - t0) / reps
    assert out.shape[1] - ids.shape[1] == max_new

    from peft import LoraConfig, get_peft_model

    pm = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0,
                                          target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                          "up_proj", "down_proj"],
                                          exclude_modules=r".*visual.*"))
    pm.train()
    comp = tok(COMPLETION, add_special_tokens=False)["input_ids"] + [tok.convert_tokens_to_ids("<|im_end|>")]
    full = torch.tensor([ids[0].tolist() + comp] * tb)
    labels = full.clone()
    labels[:, : ids.shape[1]] = -100
    # four distinct images (the render and its flips), as in the Rust bench
    T = Image.Transpose
    imgs = [img, img.transpose(T.FLIP_LEFT_RIGHT), img.transpose(T.FLIP_TOP_BOTTOM), img.transpose(T.ROTATE_180)][:tb]
    fb = ip(images=imgs, return_tensors="pt")
    pvb, gridb = fb["pixel_values"], fb["image_grid_thw"]
    mmb = (full == model.config.image_token_id).int()
    opt = torch.optim.AdamW([p for p in pm.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.0)

    def step():
        out = pm(input_ids=full, attention_mask=torch.ones_like(full), pixel_values=pvb, image_grid_thw=gridb,
                 mm_token_type_ids=mmb, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in pm.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad()

    step()
    reps = 5
    t0 = time.perf_counter()
    for _ in range(reps):
        step()
    train_s = (time.perf_counter() - t0) / reps
    print(json.dumps({"gen_tokens_per_s": n * max_new / gen_s, "gen_s": gen_s, "train_step_s": train_s}))


if __name__ == "__main__":
    main()
