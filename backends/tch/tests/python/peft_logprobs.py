"""Log-probs through a LoRA adapter loaded by PEFT (checks that adapters we save load in PEFT).

Usage: python peft_logprobs.py MODEL_DIR ADAPTER_DIR IMAGE_INDEX
Prints a JSON list: per reference completion of that image, the per-token log-probs.
"""

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
from peft import PeftModel  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import Qwen2_5_VLForConditionalGeneration  # noqa: E402


def main():
    model_dir, adapter_dir, idx = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ref = json.load(open(os.path.join(model_dir, "ref", "ref.json")))
    pix = load_file(os.path.join(model_dir, "ref", "pixels.safetensors"))[f"pixel_values_{idx}"]
    entry = ref["images"][idx]
    base = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32).eval()
    model = PeftModel.from_pretrained(base, adapter_dir).eval()
    image_token_id = base.config.image_token_id
    grid = torch.tensor([entry["grid_thw"]])
    out = []
    with torch.no_grad():
        for c in entry["completions"]:
            ids = torch.tensor([entry["prompt_ids"] + c["token_ids"]])
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pix,
                           image_grid_thw=grid, mm_token_type_ids=(ids == image_token_id).int()).logits
            lp = torch.log_softmax(logits[0].float(), -1)
            p = len(entry["prompt_ids"])
            out.append([float(lp[p - 1 + i, t]) for i, t in enumerate(c["token_ids"])])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
