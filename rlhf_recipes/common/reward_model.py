"""The reward model in one place: load, check, standardize and score it (for PPO, RLOO, GRPO, the report and `score`),
and a text classifier's label as a reward. Why standardize: docs/outputs.md, "What each stage writes"."""

import torch
from torch import nn

from rlhf_recipes.common import models
from rlhf_recipes.common.errors import RecipeError, check
from rlhf_recipes.common.logs import get_logger
from rlhf_recipes.common.prompts import model_format

logger = get_logger(__name__)
MAX_PAIRS = 512  # responses enough for a steady mean and std (2 x 512 scored)
BATCH_SIZE = 64
ENCODER_DECODER_HEAD = "classification_head"  # the score head of transformers' encoder-decoder classifiers (T5, BART)


def problems(path: str, field: str) -> list[str]:
    """Why the model at `path` cannot be a reward model (a sequence classifier with one output), if it cannot."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    architectures = config.architectures or []
    if any(a.endswith("ForSequenceClassification") for a in architectures) and config.num_labels == 1:
        return []
    return [
        f"{field}: {path!r} is not a reward model (architectures {architectures}, num_labels "
        f"{config.num_labels}); a reward model is a sequence classifier with one output. A causal LM has no "
        "trained reward head: loading it as one would add a randomly initialised head and give meaningless "
        "scores. Train one with the reward stage and use its output folder."
    ]


def peft_config(model_args, encoder_decoder: bool):
    """The reward model's LoRA settings; an encoder-decoder's head trains in full and is saved with the adapter.

    peft does that for a head called `score` or `classifier` only: any other would be merged as a fresh random one.
    """
    from trl import get_peft_config

    config = get_peft_config(model_args)
    if config is not None and encoder_decoder:
        config.modules_to_save = [*(config.modules_to_save or []), ENCODER_DECODER_HEAD]
    return config


def load_model(path: str, normalize: bool = False, quiet: bool = False, **load_kwargs):
    """The sequence classifier at `path` (backbone + `.score`, as PPO reads it), standardized when `normalize`."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(path, **load_kwargs)
    if normalize:
        standardize(model, path, quiet)
    return model


class RewardModel:
    """A reward model folder, ready to score (prompt, response) pairs: checked, loaded, optionally standardized."""

    def __init__(self, path: str, field: str = "reward_model", normalize: bool = False, device=None, **load_kwargs):
        check(problems(path, field))
        self.path = path
        self.model = load_model(path, normalize, **load_kwargs).eval()
        if device is not None:
            self.model.to(device)
        self.tokenizer = models.load_tokenizer(path)
        self.prompt_format = model_format(path, self.tokenizer)

    def score(self, prompts: list, responses: list[str], finished: list[bool] | None = None) -> list[float]:
        """The score of each (prompt, response) (`scores`)."""
        return scores(self.model, self.tokenizer, self.prompt_format, prompts, responses, finished)


@torch.no_grad()
def scores(
    model, tokenizer, prompt_format, prompts: list, responses: list[str], finished: list[bool] | None = None
) -> list[float]:
    """`model`'s score of each (prompt, response) rendered in `prompt_format`; `finished[i]` False: cut at the length
    limit, scored without an end (default: every response finished)."""
    finished = finished or [True] * len(prompts)
    found = []
    for start in range(0, len(prompts), BATCH_SIZE):
        items = zip(prompts[start : start + BATCH_SIZE], responses[start:], finished[start:])
        texts = [prompt_format.render(tokenizer, p, r, done) for p, r, done in items]
        batch = tokenizer(texts, padding=True, padding_side="right", add_special_tokens=False, return_tensors="pt")
        found += model(**batch.to(model.device)).logits[:, 0].float().tolist()
    return found


class LabelScore:
    """One label's score from a sequence classifier at `path`: its probability, or its logit."""

    def __init__(self, path: str, label: str, transform: str, device=None, field: str = "reward_classifier_label"):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.classifier = AutoModelForSequenceClassification.from_pretrained(path).eval()
        if device is not None:
            self.classifier.to(device)
        labels = self.classifier.config.label2id or {}
        if label not in labels:
            raise RecipeError(f"{field} {label!r} is not a label of {path!r}; its labels are {sorted(labels)}.")
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

    def score(self, prompts: list, responses: list[str]) -> list[float]:
        """The label's score of each prompt and response read together as plain text."""
        return self([f"{as_text(p)} {r}" for p, r in zip(prompts, responses)]).tolist()


def as_text(prompt) -> str:
    """A prompt (text or chat turns) as plain text."""
    return prompt if isinstance(prompt, str) else "\n".join(turn["content"] for turn in prompt)


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
    """Make `model` (backbone + `.score`) return standardized scores, when its config has the statistics.

    PPO applies it to the reward model and to a value model that starts from it (`quiet`: said once already).
    """
    mean, std = getattr(model.config, "reward_mean", None), getattr(model.config, "reward_std", None)
    if mean is None or std is None:
        if not quiet:
            logger.warning(
                f"{path!r} has no reward_mean/reward_std in its config.json (it was not trained by the "
                "reward stage): its raw scores are used, so kl_coef is on their scale."
            )
        return
    model.score = StandardizedScore(model.score, mean, std)
    if not quiet:
        logger.info(f"{path}: scores standardized as (score - {mean:.3f}) / {std:.3f}, the reward stage's statistics.")
