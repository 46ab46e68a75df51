"""A real trl.GRPOTrainer run (2 steps, CPU) with cadrl.rewards.iou as its reward.

The model is a tiny randomly initialised Qwen2 and the tokenizer a byte-level BPE
trained here on the fixture programs, so nothing is downloaded. The data set has a
`prompt` column and the reference program in a `cadquery` column, which TRL passes to
the reward by name. Random models write garbage, so most rewards are 0; the test is
that the trainer calls the reward with its real arguments and gets one float each.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl")
from datasets import Dataset  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM  # noqa: E402

import cadrl.rewards  # noqa: E402

CHAT = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_tokenizer(corpus: list[str]) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    t = trainers.BpeTrainer(vocab_size=600, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus, t)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None, chat_template=CHAT
    )


def tiny_model(vocab: int, pad: int, eos: int) -> Qwen2ForCausalLM:
    torch.manual_seed(0)
    cfg = Qwen2Config(
        vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True, pad_token_id=pad,
        eos_token_id=eos, bos_token_id=None,
    )
    return Qwen2ForCausalLM(cfg)


@pytest.mark.parametrize("conversational", [False, True])
def test_grpo_trainer_runs_with_cadrl_iou(cases, tmp_path, monkeypatch, conversational):
    tok = tiny_tokenizer([c["code"] for c in cases] + [c["prompt"] for c in cases])
    model = tiny_model(len(tok), tok.pad_token_id, tok.eos_token_id)
    rows = cases[:4]
    prompt = [(c["prompt"] if not conversational else [{"role": "user", "content": c["prompt"]}]) for c in rows]
    ds = Dataset.from_dict({"prompt": prompt, "cadquery": [c["code"] for c in rows]})

    calls = []
    real_score = cadrl.rewards.score

    def recording_score(kind, completions, references, **kw):
        out = real_score(kind, completions, references, **kw)
        calls.append((kind, list(completions), list(references), out[0]))
        return out

    monkeypatch.setattr(cadrl.rewards, "score", recording_score)

    cfg = trl.GRPOConfig(
        output_dir=str(tmp_path / "out"), max_steps=2, per_device_train_batch_size=4, num_generations=4,
        max_completion_length=24, learning_rate=1e-3, logging_steps=1, save_strategy="no", report_to=[],
        use_cpu=True, bf16=False, seed=0, dataloader_num_workers=0, disable_tqdm=True,
    )
    trainer = trl.GRPOTrainer(model=model, reward_funcs=[cadrl.rewards.iou], args=cfg, train_dataset=ds, processing_class=tok)
    trainer.train()

    assert trainer.state.global_step == 2
    assert trainer.reward_func_names == ["iou"]
    assert len(calls) >= 2, "the reward was not called every step"
    for kind, comps, refs, values in calls:
        assert kind == "iou" and len(values) == len(comps) == len(refs) == 4
        # chat data sets give message lists, standard ones strings
        assert all(isinstance(x, list if conversational else str) for x in comps)
        assert all(type(v) is float and 0.0 <= v <= 1.0 for v in values)
        assert all(r in {c["code"] for c in rows} for r in refs)  # the `cadquery` column, by name
    logged = [h for h in trainer.state.log_history if "rewards/iou/mean" in h]
    assert len(logged) == 2
    assert any("cadrl/iou/penalised_frac" in h for h in trainer.state.log_history)
