"""A text classifier's label as PPO's reward, whatever its tokenizer.

TRL's PPOTrainer calls a reward model as `getattr(model, model.base_model_prefix)(input_ids=...)`
and then `model.score(hidden_states[-1])`, on the *policy's* token ids. `ClassifierReward` offers
that interface: it decodes the policy's ids to text, re-tokenizes it for the classifier, and
returns the chosen label's score at every position (PPO reads it at the last response token).
The classifier reads the prompt and the response together, as in the classic sentiment-PPO setup.
"""

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutput

from rlhf_recipes.common.errors import RecipeError


class _ReadAsText(nn.Module):
    def __init__(self, classifier, classifier_tokenizer, policy_tokenizer, label_index: int, transform: str):
        super().__init__()
        self.classifier = classifier
        self.classifier_tokenizer = classifier_tokenizer
        self.policy_tokenizer = policy_tokenizer
        self.label_index = label_index
        self.transform = transform

    @torch.no_grad()
    def forward(self, input_ids, attention_mask, **_):
        texts = self.policy_tokenizer.batch_decode(input_ids * attention_mask, skip_special_tokens=True)
        batch = self.classifier_tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        logits = self.classifier(**batch.to(self.classifier.device)).logits.float()
        if self.transform == "probability":
            multi_label = self.classifier.config.problem_type == "multi_label_classification"
            logits = logits.sigmoid() if multi_label else logits.softmax(-1)
        reward = logits[:, self.label_index].to(input_ids.device)
        hidden = reward[:, None, None].expand(-1, input_ids.shape[1], 1)
        return BaseModelOutput(last_hidden_state=hidden, hidden_states=(hidden,))


class ClassifierReward(nn.Module):
    """Reward = `transform` of one label's logit from a sequence classifier at `path`."""

    base_model_prefix = "reader"

    def __init__(self, path: str, label: str, transform: str, policy_tokenizer):
        super().__init__()
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        classifier = AutoModelForSequenceClassification.from_pretrained(path).eval()
        labels = classifier.config.label2id or {}
        if label not in labels:
            raise RecipeError(
                f"reward_classifier_label {label!r} is not a label of {path!r}; its labels are {sorted(labels)}."
            )
        self.reader = _ReadAsText(classifier, AutoTokenizer.from_pretrained(path), policy_tokenizer, labels[label], transform)
        self.score = nn.Identity()
        self.config = classifier.config

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ClassifierReward is read through PPO's reward interface (reader + score).")
