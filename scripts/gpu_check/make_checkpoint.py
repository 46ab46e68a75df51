"""Write a randomly initialised Qwen2.5-VL checkpoint for the device check, with transformers.

Usage: python make_checkpoint.py OUT_DIR {3b,small} DEVICE

`3b` is Qwen2.5-VL-3B-Instruct's exact configuration: vision tower (32 blocks of 1280,
windows of 112 px, full attention in blocks 7/15/23/31), merger, 36-layer decoder (2048
wide, 16 heads, 2 KV heads, M-RoPE sections 16/24/24, tied embeddings), the 151936-entry
vocabulary with Qwen's 22 added tokens at their ids (151643..151664: `<|image_pad|>` is
151655), Qwen2.5-VL's chat template and image processor (a 448x448 render is 256 visual
tokens). `small` keeps the vocabulary, tokenizer, processor and template and shrinks the
model (2 decoder layers of 128, 4 vision blocks of 64) for the checks on CPU.

Weights are random (no network: the real ones cannot be fetched) and sharper than an
untrained init, so that next-token distributions are peaked as a trained model's are on
code: log-prob differences then show kernel errors, and greedy decoding has clear winners.
The tokenizer is a byte-level BPE with Qwen's split rules learned on a small code corpus,
padded with unused entries up to id 151642 (a GenCAD program tokenises to about as many
tokens as with Qwen's own: digits are single tokens in both). Saved in bf16, as the real
checkpoint is. DEVICE (cpu, cuda) is where the weights are initialised.
"""

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers  # noqa: E402
from transformers import PreTrainedTokenizerFast, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration  # noqa: E402

# Qwen2.5's added tokens, in id order from 151643.
ADDED = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
    "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>",
]
FIRST_ADDED = 151643
VOCAB = 151936
QWEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# Qwen2.5-VL's chat template (the part a one-image, one-turn prompt uses is verbatim).
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
CORPUS = [
    "Generate the CADQuery code needed to create the CAD for the provided image. Just the code, no other words.",
    "You are a helpful assistant. system user assistant",
    "import cadquery as cq\n# Generating a workplane for sketch 0\n"
    "wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(-0.75, 0.0, 0.0), cq.Vector(1.0, 0.0, 0.0), "
    "cq.Vector(0.0, 0.0, 1.0)))\n",
    "loop0=wp_sketch0.moveTo(0.5, 0.0).lineTo(0.5, 0.25).threePointArc((0.25, 0.5), (0.0, 0.25))"
    ".lineTo(0.0, 0.0).close()\nloop1=wp_sketch0.moveTo(0.25, 0.25).circle(0.125)\n",
    "solid0=wp_sketch0.add(loop0).add(loop1).extrude(0.1875)\nsolid=solid0\nsolid=solid.union(solid1)\n"
    "solid=solid.cut(solid2)\nsolid=solid.intersect(solid3)\n",
    "0123456789 .,:;()[]{}'\"=+-*/<>_#\n",
]

CONFIGS = {
    "3b": dict(
        text=dict(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
                  num_key_value_heads=2, mrope=[16, 24, 24], max_position_embeddings=128000),
        vision=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16,
                    fullatt_block_indexes=[7, 15, 23, 31]),
    ),
    "small": dict(
        text=dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, mrope=[4, 6, 6], max_position_embeddings=32768),
        vision=dict(depth=4, hidden_size=64, intermediate_size=128, num_heads=2, fullatt_block_indexes=[1, 3]),
    ),
}


def make_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(CORPUS * 4, trainer)
    # Pad the learned vocabulary with entries no merge produces, so that the added tokens
    # get Qwen's ids.
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    for i in range(len(vocab), FIRST_ADDED):
        vocab[f"<|unused_{i}|>"] = i
    tok = Tokenizer.from_str(json.dumps(spec))
    tok.add_special_tokens(ADDED)
    assert tok.token_to_id("<|image_pad|>") == 151655, tok.token_to_id("<|image_pad|>")
    return tok


def main():
    out, which, device = sys.argv[1], sys.argv[2], sys.argv[3]
    c = CONFIGS[which]
    os.makedirs(out, exist_ok=True)
    tok_obj = make_tokenizer()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok_obj, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        unk_token=None, chat_template=CHAT_TEMPLATE, model_max_length=131072)
    tokenizer.save_pretrained(out)
    tcj_path = os.path.join(out, "tokenizer_config.json")
    tcj = json.load(open(tcj_path))
    tcj["chat_template"] = CHAT_TEMPLATE
    json.dump(tcj, open(tcj_path, "w"), indent=2)
    tid = tok_obj.token_to_id
    t, v = c["text"], c["vision"]
    ids = dict(bos_token_id=tid("<|endoftext|>"), eos_token_id=tid("<|im_end|>"))
    cfg = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=VOCAB, hidden_size=t["hidden_size"], intermediate_size=t["intermediate_size"],
            num_hidden_layers=t["num_hidden_layers"], num_attention_heads=t["num_attention_heads"],
            num_key_value_heads=t["num_key_value_heads"], rms_norm_eps=1e-6, hidden_act="silu",
            max_position_embeddings=t["max_position_embeddings"], sliding_window=32768, use_sliding_window=False,
            max_window_layers=70,
            rope_parameters={"rope_type": "default", "mrope_section": t["mrope"], "rope_theta": 1000000.0},
            pad_token_id=tid("<|endoftext|>"), tie_word_embeddings=True, **ids,
        ),
        vision_config=dict(
            depth=v["depth"], hidden_size=v["hidden_size"], intermediate_size=v["intermediate_size"],
            num_heads=v["num_heads"], out_hidden_size=t["hidden_size"], window_size=112,
            fullatt_block_indexes=v["fullatt_block_indexes"], patch_size=14, spatial_merge_size=2,
            temporal_patch_size=2, tokens_per_second=2, in_channels=3, hidden_act="silu",
        ),
        image_token_id=tid("<|image_pad|>"), video_token_id=tid("<|video_pad|>"),
        vision_start_token_id=tid("<|vision_start|>"), vision_end_token_id=tid("<|vision_end|>"),
        vision_token_id=tid("<|vision_pad|>"), tie_word_embeddings=True, **ids,
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration(cfg).eval()
    g = torch.Generator(device=device).manual_seed(1)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "norm" in n or "ln_q" in n:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g, device=device))
            elif p.dim() == 1:
                p.copy_(0.05 * torch.randn(p.shape, generator=g, device=device))
            else:
                p.copy_(torch.randn(p.shape, generator=g, device=device) * (1.2 / p[0].numel() ** 0.5))
        model.get_input_embeddings().weight.mul_(3.0)
    model = model.to(torch.bfloat16)
    model.generation_config.eos_token_id = tid("<|im_end|>")
    model.generation_config.pad_token_id = tid("<|endoftext|>")
    model.generation_config.do_sample = False
    model.save_pretrained(out, safe_serialization=True)
    try:
        import torchvision  # noqa: F401
        backend = "torchvision"
        from transformers import Qwen2VLImageProcessor as Ip
    except ImportError:  # transformers 5 then uses the Pillow processor; cadrl reads which
        backend = "pil"
        from transformers import Qwen2VLImageProcessorPil as Ip
    Ip(patch_size=14, temporal_patch_size=2, merge_size=2, min_pixels=3136, max_pixels=12845056).save_pretrained(out)
    pp = os.path.join(out, "preprocessor_config.json")
    pj = json.load(open(pp))
    pj["image_backend"] = backend
    json.dump(pj, open(pp, "w"), indent=2)
    n_params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"config": which, "params": n_params, "image_backend": backend}))


if __name__ == "__main__":
    main()
