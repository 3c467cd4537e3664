"""The arguments every stage shares; a stage subclasses them, and each dataclass's `problems()` and the upstream
checks are raised together in one `RecipeError` (docs/recipes.md, "One stage at a time")."""

import importlib.util
import json
import warnings
from dataclasses import dataclass, field

from transformers.utils import is_torch_bf16_gpu_available
from trl import ModelConfig, ScriptArguments

from rlhf_recipes.common.errors import RecipeError, check


class Checked:
    """Mixin for a config dataclass: its own `problems()` and its base class's checks, reported together."""

    def __post_init__(self):
        found = []
        try:
            if hasattr(super(), "__post_init__"):
                super().__post_init__()
        except ValueError as err:  # upstream's own check, e.g. ModelConfig: 4-bit and 8-bit together
            found.append(str(err).rstrip(".") + ".")
        check(self.problems() + found)

    def problems(self) -> list[str]:
        return []


@dataclass
class DatasetArguments(Checked, ScriptArguments):
    """TRL's dataset arguments plus how rows are renamed and how prompts are shown to the model."""

    column_mapping: dict | str | None = field(
        default=None,
        metadata={
            "help": "Rename columns before the format is recognized, as {name in the data: expected name}, "
            'e.g. {"question": "prompt", "answer": "response"} (JSON on the command line).'
        },
    )
    use_chat_template: bool | None = field(
        default=None,
        metadata={
            "help": "Wrap plain-text prompts/responses in the tokenizer's chat template. Default: the "
            "starting model's saved choice, else when the tokenizer has one."
        },
    )
    prompt_template: str | None = field(
        default=None,
        metadata={
            "help": "Without a chat template: how a plain-text prompt is shown to the model, with {prompt} where it "
            "goes, e.g. 'Question: {prompt}\\nAnswer:\\n'. The response follows it directly. Set it in the SFT "
            "stage: later stages read it from the SFT model. Default: as it is."
        },
    )

    def problems(self) -> list[str]:
        found = []
        if self.prompt_template is not None and "{prompt}" not in self.prompt_template:
            found.append(f"prompt_template: {self.prompt_template!r} has no {{prompt}} placeholder.")
        if isinstance(self.column_mapping, str):
            try:
                self.column_mapping = json.loads(self.column_mapping)
            except json.JSONDecodeError as err:
                return found + [f"column_mapping: expected a JSON object, got {self.column_mapping!r} ({err})."]
        if self.column_mapping is not None and not (
            isinstance(self.column_mapping, dict) and all(isinstance(v, str) for v in self.column_mapping.values())
        ):
            found.append(f"column_mapping: expected a mapping of column names, got {self.column_mapping!r}.")
        return found


@dataclass
class PreferenceArguments(DatasetArguments):
    """Dataset arguments for preference pairs: how many prompts to hold out, and how many pairs to evaluate."""

    eval_fraction: float = field(
        default=0.1,
        metadata={"help": "Share of prompts held out for evaluation when the data has no test split (by prompt)."},
    )
    max_eval_pairs: int | None = field(
        default=None, metadata={"help": "Evaluate on a fixed random sample of at most this many held-out pairs."}
    )

    def problems(self) -> list[str]:
        found = super().problems()
        if not 0.0 <= self.eval_fraction < 1.0:
            found.append(f"eval_fraction: expected a number in [0, 1), got {self.eval_fraction}.")
        if self.max_eval_pairs is not None and self.max_eval_pairs < 1:
            found.append(f"max_eval_pairs: expected a positive number of pairs, got {self.max_eval_pairs}.")
        return found


@dataclass
class SampledPromptArguments(DatasetArguments):
    """Dataset arguments for the stages that sample responses to prompts (PPO, RLOO, GRPO), and their reward."""

    prompt_words: int | None = field(
        default=None, metadata={"help": "Cut prompts from a `text` column: keep its first N words."}
    )
    max_prompt_length: int = field(
        default=128, metadata={"help": "Prompts longer than this many tokens (as the policy reads them) are dropped."}
    )
    reward_classifier_label: str | None = field(
        default=None,
        metadata={"help": "Use `reward_model_path` as a text classifier and this label's score as the reward."},
    )
    reward_classifier_transform: str = field(
        default="probability",
        metadata={"help": "How the label's logit becomes the reward.", "choices": ["probability", "logit"]},
    )
    normalize_reward: bool = field(
        default=True,
        metadata={
            "help": "Standardize the reward model's score with the mean/std the reward stage recorded, so "
            "the KL coefficient means the same for every reward model (a classifier's reward is used as it "
            "is)."
        },
    )


@dataclass
class StageSettings(Checked):
    """Mixin for TRL's training configs: precision follows the hardware unless set, and `pad_token`.

    Unset `bf16`/`fp16` become bf16 on a CUDA GPU that has it, fp16 on an older one, fp32 otherwise; `bf16: true`
    needs a device transformers finds bf16 on (`is_torch_bf16_gpu_available`). TRL's SFT/Reward configs carry a
    deprecated `pad_token` field; here the stage sets it on the tokenizer itself (TRL's advice), and a new token
    grows the model's embeddings in the SFT stage.
    """

    pad_token: str | None = field(
        default=None,
        metadata={
            "help": "Pad token to give a tokenizer: a token of its vocabulary, or (SFT stage) a new one such as "
            "'<|pad|>', for which the embeddings grow by one row. Later stages inherit it from the SFT model."
        },
    )

    def __post_init__(self):
        import torch

        bf16_refused = bool(self.bf16) and not is_torch_bf16_gpu_available()
        if self.bf16 is None and not self.fp16:
            self.bf16 = torch.cuda.is_available() and is_torch_bf16_gpu_available()
            self.fp16 = torch.cuda.is_available() and not self.bf16
        elif bf16_refused:
            self.bf16 = False  # reported below; keeps upstream from repeating the complaint in its own words
        self._bf16_refused = bf16_refused
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pad_token.*deprecated")
            super().__post_init__()

    def problems(self) -> list[str]:
        from rlhf_recipes.common import checkpoints

        found = super().problems()
        if self._bf16_refused:
            found.append(
                "bf16: true was set, but this machine has no GPU with bf16 support. Remove the `bf16` line "
                "to let the precision follow the hardware, or set `bf16: false`."
            )
        try:
            checkpoints.resume_point(self)  # before anything loads: a checkpoint that is not there
        except RecipeError as err:
            found.append(str(err))
        return found


@dataclass
class StageModelConfig(Checked, ModelConfig):
    """TRL's ModelConfig, checked: quantization needs bitsandbytes and an adapter; a stage adds its own checks."""

    def problems(self) -> list[str]:
        if not (self.load_in_4bit or self.load_in_8bit):
            return []
        setting = f"load_in_{'4' if self.load_in_4bit else '8'}bit"
        found = []
        if importlib.util.find_spec("bitsandbytes") is None:
            found.append(
                f"{setting} needs bitsandbytes, which is not installed: pip install bitsandbytes (or remove "
                "the setting to train in full precision)."
            )
        if not self.use_peft:
            found.append(f"{setting} trains an adapter on frozen quantized weights: set use_peft: true.")
        return found


@dataclass
class PolicyAdapterConfig(StageModelConfig):
    """TRL's ModelConfig for a LoRA adapter on the SFT model (`model_name_or_path`): with the adapter disabled it
    is the SFT model, the reference (DPO, RLOO, GRPO)."""

    def problems(self) -> list[str]:
        found = super().problems()
        if not self.use_peft:
            found.append(
                "use_peft: false is not supported by this recipe; it trains a LoRA adapter on the SFT model, "
                "which is the reference with the adapter disabled."
            )
        elif self.lora_task_type != "CAUSAL_LM":
            found.append(f"lora_task_type: the policy is a causal LM; use CAUSAL_LM, not {self.lora_task_type}.")
        return found


def describe_precision(args) -> str:
    if args.bf16:
        return "bf16 mixed precision"
    if args.fp16:
        return "fp16 mixed precision"
    import torch

    return "fp32" if torch.cuda.is_available() else "fp32 (no GPU found)"
