"""Bridges to TRL's PPOTrainer (trl.experimental.ppo, 1.12): distributed training, and a classifier as its reward.

`PPOTrainer`: under several processes `accelerator.prepare` wraps PPO's policy-and-value module in
DDP, but the trainer still reads `self.model.policy` (for the KL reference pass and in
`save_model`: upstream issue #2375), and its own `__init__` never sets
`is_distributed_loading_by_transformers`, which `Trainer.save_model` reads. Both are attribute
look-ups; the subclass answers them. With one process nothing is wrapped and nothing changes.

`ClassifierReward`: TRL's PPOTrainer calls a reward model as
`getattr(model, model.base_model_prefix)(input_ids=...)` and then `model.score(hidden_states[-1])`,
on the *policy's* token ids. This module offers that interface: it decodes the policy's ids to text,
lets the classifier read it (`reward_model.LabelScore`), and returns the chosen label's score at
every position (PPO reads it at the last response token). The classifier reads the prompt and the
response together, as in the classic sentiment-PPO setup.
"""

import os

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutput

from rlhf_recipes.common.reward_model import LabelScore

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # PPO is experimental in TRL 1.x: we know

from trl.experimental.ppo import PPOConfig as TrlPPOConfig  # noqa: E402
from trl.experimental.ppo import PPOTrainer as TrlPPOTrainer  # noqa: E402

__all__ = ["ClassifierReward", "PPOTrainer", "TrlPPOConfig"]


class PPOTrainer(TrlPPOTrainer):
    """TRL's PPOTrainer that also works when its model is wrapped for distributed training."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        unwrapped = self.accelerator.unwrap_model(self.model)
        if unwrapped is not self.model:
            # Set in __dict__ so the wrapper does not register the policy as a second submodule.
            self.model.__dict__["policy"] = unwrapped.policy
        if not hasattr(self, "is_distributed_loading_by_transformers"):
            self.is_distributed_loading_by_transformers = False


class _ReadAsText(nn.Module):
    def __init__(self, label_score: LabelScore, policy_tokenizer):
        super().__init__()
        self.classifier = label_score.classifier  # a submodule, so it moves with the reward model
        self.label_score = label_score
        self.policy_tokenizer = policy_tokenizer

    @torch.no_grad()
    def forward(self, input_ids, attention_mask, **_):
        texts = self.policy_tokenizer.batch_decode(input_ids * attention_mask, skip_special_tokens=True)
        reward = self.label_score(texts).to(input_ids.device)
        hidden = reward[:, None, None].expand(-1, input_ids.shape[1], 1)
        return BaseModelOutput(last_hidden_state=hidden, hidden_states=(hidden,))


class ClassifierReward(nn.Module):
    """Reward = `transform` of one label's logit from a sequence classifier at `path`."""

    base_model_prefix = "reader"

    def __init__(self, path: str, label: str, transform: str, policy_tokenizer):
        super().__init__()
        label_score = LabelScore(path, label, transform)
        self.reader = _ReadAsText(label_score, policy_tokenizer)
        self.score = nn.Identity()
        self.config = label_score.classifier.config

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ClassifierReward is read through PPO's reward interface (reader + score).")
