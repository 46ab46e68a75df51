"""TRL's GRPO loss (`GRPOTrainer._compute_loss`, the installed trl) on given per-token inputs.

Usage: python trl_grpo_loss.py CASES_JSON
CASES_JSON: a list of cases, each {"loss_type", "beta", "epsilon_low", "epsilon_high",
"max_completion_length", "grad_accum", "num_items_in_batch", "logps", "old", "ref",
"advantages", "mask"} with `logps`, `old`, `ref`, `mask` padded B x T lists.
Prints a JSON list: per case {"loss", "grad" (d loss / d logps, B x T), "metrics"}.

The trainer method runs unchanged on a minimal trainer state: the per-token log-probs come
from the case instead of a model forward (`_get_per_token_logps_and_entropies`), one
process (gather and reduce are the identity), token-level importance sampling, no
entropy bonus, no vLLM; `steps_per_generation` = `grad_accum` (TRL's default).
"""

import json
import sys
from collections import defaultdict
from types import SimpleNamespace

import torch
from trl import GRPOTrainer


class OneProcess:
    num_processes = 1

    def gather(self, x):
        return x

    def gather_for_metrics(self, x):
        return x

    def reduce(self, x, reduction="sum"):
        return x


def run(case):
    f64 = torch.float64
    logps = torch.tensor(case["logps"], dtype=f64, requires_grad=True)
    mask = torch.tensor(case["mask"], dtype=torch.long)
    b, t = logps.shape
    ga = case["grad_accum"]
    state = SimpleNamespace(
        top_entropy_quantile=1.0,
        off_policy_mask_threshold=None,
        importance_sampling_level="token",
        beta=case["beta"],
        loss_type=case["loss_type"],
        epsilon_low=case["epsilon_low"],
        epsilon_high=case["epsilon_high"],
        args=SimpleNamespace(use_bias_correction_kl=False, delta=None, steps_per_generation=ga),
        use_vllm=False,
        model=SimpleNamespace(training=True),
        current_gradient_accumulation_steps=ga,
        max_completion_length=case["max_completion_length"],
        accelerator=OneProcess(),
        _entropy_bonus_enabled=False,
        aux_loss_enabled=False,
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
    )
    state._get_per_token_logps_and_entropies = lambda *a, **k: (logps, torch.zeros_like(logps), None)
    inputs = {
        "prompt_ids": torch.zeros((b, 1), dtype=torch.long),
        "prompt_mask": torch.ones((b, 1), dtype=torch.long),
        "completion_ids": torch.zeros((b, t), dtype=torch.long),
        "completion_mask": mask,
        "advantages": torch.tensor(case["advantages"], dtype=f64),
        "old_per_token_logps": torch.tensor(case["old"], dtype=f64) if case["old"] is not None else None,
        "ref_per_token_logps": torch.tensor(case["ref"], dtype=f64),
        "num_items_in_batch": torch.tensor(float(case["num_items_in_batch"]), dtype=f64),
    }
    loss = GRPOTrainer._compute_loss(state, None, inputs)
    loss.backward()
    metrics = {k: v[-1] for k, v in state._metrics["train"].items()}
    return {"loss": loss.item(), "grad": logps.grad.tolist(), "metrics": metrics}


def main():
    cases = json.load(open(sys.argv[1]))
    print(json.dumps([run(c) for c in cases]))


if __name__ == "__main__":
    main()
