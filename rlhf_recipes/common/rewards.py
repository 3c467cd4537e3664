"""Rewards read from text: the reward stage's model, or one label of any text classifier.

PPO reads a reward through its own model interface (`ppo_support`); RLOO and GRPO call a reward
function with the prompts and the sampled completions. Both read the text the way these classes do:
the reward model sees prompt and response rendered as the reward stage trained on them (a response
cut at the length limit stays open), standardized with the statistics the reward stage recorded
(`normalization`); a classifier reads prompt and response as plain text with its own tokenizer.
"""

import torch

from rlhf_recipes.common import models, normalization
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.prompts import model_format
from rlhf_recipes.evaluation.sampling import reward_scores


class LabelScore:
    """One label's score from a sequence classifier at `path`: its probability, or its logit."""

    def __init__(self, path: str, label: str, transform: str, device=None):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.classifier = AutoModelForSequenceClassification.from_pretrained(path).eval()
        if device is not None:
            self.classifier.to(device)
        labels = self.classifier.config.label2id or {}
        if label not in labels:
            raise RecipeError(
                f"reward_classifier_label {label!r} is not a label of {path!r}; its labels are {sorted(labels)}."
            )
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.label_index, self.transform = labels[label], transform

    @torch.no_grad()
    def __call__(self, texts: list[str]) -> torch.Tensor:
        batch = self.tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        logits = self.classifier(**batch.to(self.classifier.device)).logits.float()
        if self.transform == "probability":
            multi_label = self.classifier.config.problem_type == "multi_label_classification"
            logits = logits.sigmoid() if multi_label else logits.softmax(-1)
        return logits[:, self.label_index]


class RewardModelScore:
    """The reward stage's model at `path`, scoring (prompt, response) pairs; standardized when `normalize`."""

    def __init__(self, path: str, normalize: bool, device=None, **load_kwargs):
        from transformers import AutoModelForSequenceClassification

        self.model = AutoModelForSequenceClassification.from_pretrained(path, **load_kwargs).eval()
        if device is not None:
            self.model.to(device)
        if normalize:
            normalization.standardize(self.model, path)
        self.tokenizer = models.load_tokenizer(path)
        self.prompt_format = model_format(path, self.tokenizer)

    def __call__(self, prompts: list, responses: list[str], finished: list[bool]) -> list[float]:
        return reward_scores(self.model, self.tokenizer, self.prompt_format, prompts, responses, finished)


class RewardFunction:
    """A reward function as TRL's RLOO and GRPO trainers call it: one float per sampled completion.

    The dataset's `source_prompt` column (the prompt as the data holds it) reaches it beside TRL's
    own arguments, so the reward model renders each pair in its own format whatever the policy's is.
    """

    def __init__(self, score: LabelScore | RewardModelScore, eos_token_id: int, name: str):
        self.score, self.eos_token_id, self.__name__ = score, eos_token_id, name

    def __call__(self, prompts, completions, completion_ids, source_prompt, **_) -> list[float]:
        responses = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        if isinstance(self.score, LabelScore):
            texts = [f"{_as_text(p)} {r}" for p, r in zip(source_prompt, responses)]
            return self.score(texts).tolist()
        finished = [self.eos_token_id in ids for ids in completion_ids]
        return self.score(source_prompt, responses, finished)


def _as_text(prompt) -> str:
    return prompt if isinstance(prompt, str) else "\n".join(turn["content"] for turn in prompt)


def reward_function(script_args, reward_path: str, policy_tokenizer, device, **load_kwargs) -> RewardFunction:
    """The reward of `script_args` as a TRL reward function: the reward model, or (`reward_classifier_label`) one label
    of a classifier."""
    if script_args.reward_classifier_label is not None:
        score = LabelScore(reward_path, script_args.reward_classifier_label,
                           script_args.reward_classifier_transform, device)  # fmt: skip
        return RewardFunction(score, policy_tokenizer.eos_token_id, f"classifier_{script_args.reward_classifier_label}")
    score = RewardModelScore(reward_path, script_args.normalize_reward, device, **load_kwargs)
    return RewardFunction(score, policy_tokenizer.eos_token_id, "reward_model")
