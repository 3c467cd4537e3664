"""A text classifier's label as PPO's reward, whatever its tokenizer.

TRL's PPOTrainer calls a reward model as `getattr(model, model.base_model_prefix)(input_ids=...)`
and then `model.score(hidden_states[-1])`, on the *policy's* token ids. `ClassifierReward` offers
that interface: it decodes the policy's ids to text, lets the classifier read it (`LabelScore`), and
returns the chosen label's score at every position (PPO reads it at the last response token).
The classifier reads the prompt and the response together, as in the classic sentiment-PPO setup.
"""

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutput

from rlhf_recipes.common.rewards import LabelScore


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
