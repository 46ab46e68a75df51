"""Load a checkpoint written by cadrl's `init` with transformers and print reference outputs.

Usage: python init_check.py CKPT_DIR IMAGE REQUEST_JSON

REQUEST_JSON holds {"prompt": str, "completion": str, "texts": [str]}. Prints one JSON object:
  loading_info    missing/unexpected/mismatched keys of from_pretrained (all must be empty)
  prompt_ids      the processor's ids for the chat prompt with the image expanded
  grid_thw        the image grid
  completion_ids  tokenizer ids of the completion + <|im_end|>
  logprobs        teacher-forced log-probs of completion_ids (f32, CPU)
  text_ids        AutoTokenizer ids of every text (no special tokens added)
  decoded         AutoTokenizer decode of text_ids (skip_special_tokens)
  tokenizer_class the class AutoTokenizer picked
  processor       AutoProcessor, or the image processor + tokenizer when torchvision is missing
"""

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from transformers import (  # noqa: E402
    AutoImageProcessor,
    AutoProcessor,
    AutoTokenizer,
    Qwen2_5_VLForConditionalGeneration,
)


@torch.no_grad()
def main():
    ckpt, image, req = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
    torch.set_num_threads(1)
    model, info = Qwen2_5_VLForConditionalGeneration.from_pretrained(
        ckpt, dtype=torch.float32, output_loading_info=True
    )
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(ckpt)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": req["prompt"]}]}]
    img = Image.open(image).convert("RGB")
    try:
        processor = AutoProcessor.from_pretrained(ckpt)
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        feats = processor(text=[text], images=[img], return_tensors="pt")
        prompt_ids = feats["input_ids"][0].tolist()
        processor_used = "AutoProcessor"
    except ImportError as e:
        # transformers 5 builds Qwen2.5-VL's video processor only with torchvision; without it,
        # do what the processor does with the image processor and the tokenizer.
        if "orchvision" not in str(e):
            raise
        ip = AutoImageProcessor.from_pretrained(ckpt)
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        feats = ip(images=[img], return_tensors="pt")
        n = int(feats["image_grid_thw"][0].prod()) // (ip.merge_size**2)
        text = text.replace("<|image_pad|>", "<|placeholder|>" * n, 1).replace("<|placeholder|>", "<|image_pad|>")
        prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        processor_used = "AutoImageProcessor+AutoTokenizer (AutoProcessor needs torchvision)"
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    comp_ids = tokenizer(req["completion"], add_special_tokens=False)["input_ids"] + [im_end]
    ids = torch.tensor([prompt_ids + comp_ids])
    mm = (ids == model.config.image_token_id).int()
    out = model(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        pixel_values=feats["pixel_values"],
        image_grid_thw=feats["image_grid_thw"],
        mm_token_type_ids=mm,
    )
    logp = torch.log_softmax(out.logits[0].float(), -1)
    p = len(prompt_ids)
    text_ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in req["texts"]]
    res = {
        "loading_info": {k: [str(x) for x in v] for k, v in info.items()},
        "prompt_ids": prompt_ids,
        "grid_thw": feats["image_grid_thw"][0].tolist(),
        "completion_ids": comp_ids,
        "logprobs": [float(logp[p - 1 + i, t]) for i, t in enumerate(comp_ids)],
        "text_ids": text_ids,
        "decoded": [tokenizer.decode(t, skip_special_tokens=True) for t in text_ids],
        "tokenizer_class": type(tokenizer).__name__,
        "processor": processor_used,
        "vocab_size": len(tokenizer),
    }
    print(json.dumps(res))


if __name__ == "__main__":
    main()
