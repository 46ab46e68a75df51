"""Make a small (but not trivial) random Qwen2.5-VL checkpoint for benchmarks.

Usage: python make_bench.py OUT_DIR   -> OUT_DIR/bench-small/ and OUT_DIR/images/
Same tokenizer/template/processor as make_tiny.py; processor limits are Qwen2.5-VL's
defaults, so a 448x448 render becomes 1024 patches / 256 image tokens. The vocabulary size
is Qwen2.5-VL's real one (151936; the tokenizer uses the first ids), since the LM head is a
large part of the real model's cost.
"""

import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import make_tiny as mt  # noqa: E402
from transformers import (  # noqa: E402
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2VLImageProcessor,
)


def main():
    out = sys.argv[1]
    d = os.path.join(out, "bench-small")
    os.makedirs(d, exist_ok=True)
    tok_obj = mt.make_tokenizer()
    mt.make_images(out)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok_obj, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        chat_template=mt.CHAT_TEMPLATE)
    tokenizer.save_pretrained(d)
    tcj = json.load(open(os.path.join(d, "tokenizer_config.json")))
    tcj["chat_template"] = mt.CHAT_TEMPLATE
    json.dump(tcj, open(os.path.join(d, "tokenizer_config.json"), "w"), indent=2)
    tid = tok_obj.token_to_id
    cfg = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=151936, hidden_size=256, intermediate_size=704,
                         num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2, rms_norm_eps=1e-6,
                         max_position_embeddings=4096,
                         rope_parameters={"rope_type": "default", "mrope_section": [4, 6, 6], "rope_theta": 1e6},
                         bos_token_id=tid("<|endoftext|>"), eos_token_id=tid("<|im_end|>"),
                         pad_token_id=tid("<|endoftext|>"), tie_word_embeddings=True),
        vision_config=dict(depth=4, hidden_size=128, intermediate_size=256, num_heads=4, out_hidden_size=256,
                           window_size=112, fullatt_block_indexes=[3], patch_size=14, spatial_merge_size=2,
                           temporal_patch_size=2, tokens_per_second=2),
        image_token_id=tid("<|image_pad|>"), video_token_id=tid("<|video_pad|>"),
        vision_start_token_id=tid("<|vision_start|>"), vision_end_token_id=tid("<|vision_end|>"),
        tie_word_embeddings=True, bos_token_id=tid("<|endoftext|>"), eos_token_id=tid("<|im_end|>"),
    )
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(cfg).eval()
    # Like make_tiny.py: larger random weights so next-token distributions are peaked, as a
    # trained model's are on code (a 0.02-std init gives uniform ones over 151936 tokens).
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "norm" in n or "ln_q" in n:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * (1.2 / p[0].numel() ** 0.5))
        model.get_input_embeddings().weight.mul_(3.0)
    model.generation_config.eos_token_id = tid("<|im_end|>")
    model.generation_config.pad_token_id = tid("<|endoftext|>")
    model.save_pretrained(d, safe_serialization=True)
    Qwen2VLImageProcessor(patch_size=14, temporal_patch_size=2, merge_size=2).save_pretrained(d)
    print("done")


if __name__ == "__main__":
    main()
