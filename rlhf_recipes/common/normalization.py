"""Reward normalization: the reward stage records its score's mean and std, PPO standardizes with them.

A Bradley-Terry reward model is defined only up to a shift and a scale, and each training run
lands on its own (one quickstart reward model scored typical responses within ±12, another
within 4.3-4.6). PPO adds the reward to a KL penalty `kl_coef · KL`, so a `kl_coef` tuned against
one scale freezes or frees the policy under another. Standardizing the reward to mean 0 and
std 1 on the reward data's own responses (chosen and rejected), as OpenRLHF's `normalize_reward`
and DeepSpeed-Chat do, makes `kl_coef` mean the same for every reward model. The statistics are
saved in the reward model's `config.json` (`reward_mean`, `reward_std`), so they travel with it.
"""

import torch
from torch import nn

from rlhf_recipes.common.logs import get_logger

logger = get_logger(__name__)
MAX_PAIRS = 512  # responses enough for a steady mean and std (2 x 512 scored)
BATCH_SIZE = 64


@torch.no_grad()
def score_statistics(trainer) -> dict:
    """{"reward_mean", "reward_std"} of the trained reward model on its training pairs' responses."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    was_training = model.training
    model.eval()
    pairs = trainer.train_dataset.select(range(min(MAX_PAIRS, len(trainer.train_dataset))))
    ids = list(pairs["chosen_ids"]) + list(pairs["rejected_ids"])
    scores = []
    for start in range(0, len(ids), BATCH_SIZE):
        batch = trainer.processing_class.pad({"input_ids": ids[start : start + BATCH_SIZE]}, return_tensors="pt")
        scores.append(model(**batch.to(model.device)).logits[:, 0].float())
    model.train(was_training)
    scores = torch.cat(scores)
    return {"reward_mean": scores.mean().item(), "reward_std": max(scores.std().item(), 1e-6)}


class StandardizedScore(nn.Module):
    """A reward model's score head followed by (score - mean) / std."""

    def __init__(self, score: nn.Module, mean: float, std: float):
        super().__init__()
        self.score, self.mean, self.std = score, mean, std

    def forward(self, hidden_states):
        return (self.score(hidden_states) - self.mean) / self.std


def standardize(model, path: str, quiet: bool = False) -> None:
    """Make `model` (read as PPO reads it: backbone + `.score`) return standardized scores, when it has statistics.

    PPO applies it to the reward model and to a value model that starts from it (`quiet`: said once already).
    """
    mean, std = getattr(model.config, "reward_mean", None), getattr(model.config, "reward_std", None)
    if mean is None or std is None:
        if quiet:
            return
        logger.warning(f"{path!r} has no reward_mean/reward_std in its config.json (it was not trained by the "
                       "reward stage): PPO uses its raw scores, so kl_coef is on their scale.")  # fmt: skip
        return
    model.score = StandardizedScore(model.score, mean, std)
    if not quiet:
        logger.info(f"{path}: scores standardized as (score - {mean:.3f}) / {std:.3f}, the reward stage's statistics.")
