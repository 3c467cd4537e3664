"""Stage 3, PPO: TRL's `PPOTrainer` with a LoRA adapter on the merged SFT policy, KL-penalised to the SFT model.

    accelerate launch -m rlhf_recipes.ppo --config recipes/quickstart/ppo.yaml
    python -m rlhf_recipes.ppo --config recipes/quickstart/ppo.yaml

The policy is `sft_model_path` (the SFT stage's output folder or a full model) plus a new LoRA
adapter; with the adapter disabled it is exactly the SFT model, which serves as the KL reference
(no second copy in memory). The reward comes from `reward_model_path` (the reward stage's output)
or, with `reward_classifier_label`, from one label of any text classifier (its own tokenizer is
used). The value model starts from the reward model or the SFT model (`value_model_init`); it is
trained in full, or, with `load_in_4bit`/`load_in_8bit` (all three models quantized), as a LoRA
adapter plus its score head.
Prompts: a `prompt` column (any case), chat `messages`, or the first `prompt_words` words of a
`text` column. Outputs in `output_dir`: the adapter, `merged/`, `trainer_state.json` (PPO metrics
per update) and `ppo_training.png`.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from accelerate import PartialState  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification  # noqa: E402
from trl import ModelConfig, TrlParser, get_peft_config  # noqa: E402
from trl.experimental.ppo import PPOConfig as TrlPPOConfig  # noqa: E402

from rlhf_recipes.common import files, formats, models, normalization  # noqa: E402
from rlhf_recipes.common.config import (  # noqa: E402
    DatasetArguments,
    StageSettings,
    apply_prompt_template,
    describe_precision,
    run,
    uses_chat_template,
)
from rlhf_recipes.common.errors import RecipeError  # noqa: E402
from rlhf_recipes.common.logs import get_logger  # noqa: E402
from rlhf_recipes.evaluation import plots  # noqa: E402
from rlhf_recipes.ppo_support.classifier_reward import ClassifierReward  # noqa: E402
from rlhf_recipes.ppo_support.trainer import PPOTrainer  # noqa: E402

logger = get_logger(__name__)
PPO_CURVES = {
    "objective/scores": "reward (reward model)",
    "objective/kl": "KL to the SFT model",
    "objective/entropy": "policy entropy",
}


@dataclass
class PPOScriptArguments(DatasetArguments):
    prompt_words: int | None = field(
        default=None, metadata={"help": "Cut prompts from a `text` column: keep its first N words."}
    )
    max_prompt_length: int = field(
        default=128, metadata={"help": "Prompts longer than this many tokens (after the chat template) are dropped."}
    )
    value_model_init: str = field(
        default="reward", metadata={"help": "Initialise the value model from the reward model or the SFT model.",
                                    "choices": ["reward", "sft"]}
    )  # fmt: skip
    reward_classifier_label: str | None = field(
        default=None,
        metadata={"help": "Use `reward_model_path` as a text classifier and this label's score as the reward."},
    )
    normalize_reward: bool = field(
        default=True,
        metadata={"help": "Standardize the reward model's score with the mean/std the reward stage recorded, so "
                  "kl_coef means the same for every reward model (a classifier's reward is used as it is)."},
    )  # fmt: skip
    reward_classifier_transform: str = field(
        default="probability",
        metadata={"help": "How the label's logit becomes the reward.", "choices": ["probability", "logit"]},
    )


@dataclass
class PPOConfig(StageSettings, TrlPPOConfig):
    """TRL's PPOConfig; precision follows the hardware, and responses stop at the eos token by default."""

    stop_token: str | None = field(default="eos", metadata={"help": "Truncate responses after this token ('eos')."})


def load_prompts(script_args: PPOScriptArguments, split: str, tokenizer, max_length: int):
    """Prompt rows -> left-padded-ready `input_ids` through the chat template; drops are counted."""
    source = f"{script_args.dataset_name} [{split}]"
    rows = files.load_rows(script_args.dataset_name, split, script_args.dataset_config)
    prompts = formats.to_prompts(rows, source, script_args.column_mapping, script_args.prompt_words)
    use_chat = uses_chat_template(script_args, tokenizer)
    if not use_chat:
        prompts = [apply_prompt_template(script_args, p) for p in prompts]
    encoded = [models.encode_prompt(tokenizer, p, use_chat) for p in prompts]
    keep = [ids for ids in encoded if len(ids) <= max_length]
    if len(keep) < len(encoded):
        logger.warning(f"{source}: dropped {len(encoded) - len(keep)} of {len(encoded)} prompts longer than "
                       f"max_prompt_length={max_length} tokens.")  # fmt: skip
    if not keep:
        raise RecipeError(f"{source}: every prompt is longer than max_prompt_length={max_length} tokens.")
    return Dataset.from_dict({"input_ids": keep})


def check_tokenizers_match(policy_tokenizer, reward_path: str) -> None:
    """PPO feeds the policy's token ids to the reward model, so both must share one vocabulary."""
    from transformers import AutoTokenizer

    reward_tokenizer = AutoTokenizer.from_pretrained(reward_path)
    if reward_tokenizer.get_vocab() != policy_tokenizer.get_vocab():
        raise RecipeError(
            f"reward_model_path {reward_path!r}: its tokenizer differs from the policy's, and PPO feeds the policy's "
            "token ids straight to the reward model. Train the reward model from the SFT model, or set "
            "`reward_classifier_label` to use it as a text classifier (its own tokenizer re-reads the text)."
        )


def main(script_args: PPOScriptArguments, training_args: PPOConfig, model_args: ModelConfig):
    """Optimise the policy adapter against the reward; save it with the merged policy under `output_dir`."""
    state = PartialState()
    if model_args.model_name_or_path is not None:
        raise RecipeError("model_name_or_path: PPO starts from `sft_model_path`; remove model_name_or_path.")
    if not model_args.use_peft:
        raise RecipeError("use_peft: false is not supported by this recipe; PPO trains a LoRA adapter on the SFT model.")
    sft_path = models.model_folder(training_args.sft_model_path, "sft_model_path")
    reward_path = models.model_folder(training_args.reward_model_path, "reward_model_path")
    tokenizer = models.load_tokenizer(sft_path, padding_side="left", pad_token=training_args.pad_token)
    if tokenizer.pad_token_id == tokenizer.eos_token_id:
        raise RecipeError(
            f"sft_model_path {sft_path!r}: the pad token is the eos token ({tokenizer.eos_token!r}). PPO marks where "
            "a response ends by padding, so they must differ: give the tokenizer a distinct pad token."
        )
    if script_args.reward_classifier_label is None:
        models.check_reward_model(reward_path, "reward_model_path")
        check_tokenizers_match(tokenizer, reward_path)
    train = load_prompts(script_args, script_args.dataset_train_split, tokenizer, script_args.max_prompt_length)
    per_update = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps
    if len(train) < per_update:  # TRL drops incomplete batches: with none complete it would loop forever
        raise RecipeError(
            f"{script_args.dataset_name}: {len(train)} prompts, fewer than one PPO batch (per_device_train_batch_size"
            f" x gradient_accumulation_steps = {per_update}). Add prompts or lower the batch size."
        )
    evaluation_prompts = None
    if training_args.num_sample_generations > 0:
        evaluation_prompts = train.select(range(min(8, len(train))))

    load = models.model_init_kwargs(model_args)
    quantization = models.quantization(model_args)
    policy = AutoModelForCausalLM.from_pretrained(sft_path, quantization_config=quantization, **load)
    if script_args.reward_classifier_label is None:
        reward_model = AutoModelForSequenceClassification.from_pretrained(
            reward_path, quantization_config=quantization, **load
        )
        if script_args.normalize_reward:
            normalization.standardize(reward_model, reward_path)
    else:
        reward_model = ClassifierReward(
            reward_path, script_args.reward_classifier_label, script_args.reward_classifier_transform, tokenizer
        )
    # A classifier's head predicts its labels, not values: its value model starts from the SFT model instead.
    from_reward = script_args.value_model_init == "reward" and script_args.reward_classifier_label is None
    value_path = reward_path if from_reward else sft_path
    value_model = AutoModelForSequenceClassification.from_pretrained(
        value_path, num_labels=1, pad_token_id=tokenizer.pad_token_id, quantization_config=quantization, **load
    )
    if from_reward and script_args.normalize_reward:  # values start on the standardized reward's scale
        normalization.standardize(value_model, value_path)
    if quantization is not None:  # 4-bit weights cannot be trained in full: the value model trains an adapter too
        value_model = models.add_value_adapter(value_model, model_args)
    logger.info(
        f"PPO: policy {sft_path} ({models.describe_quantization(model_args)}) + LoRA r={model_args.lora_r} "
        f"(reference = adapter disabled), reward "
        f"{reward_path}, value model from {value_path}; {len(train)} prompts, {training_args.total_episodes} "
        f"episodes, {describe_precision(training_args)}, {state.num_processes} process(es)."
    )
    trainer = PPOTrainer(
        args=training_args,
        processing_class=tokenizer,
        model=policy,
        ref_model=None,
        reward_model=reward_model,
        train_dataset=train,
        value_model=value_model,
        eval_dataset=evaluation_prompts,
        peft_config=get_peft_config(model_args),
    )
    trainer.train()

    output_dir = Path(training_args.output_dir)
    merged_dir = models.save_stage(trainer, sft_path, tokenizer, AutoModelForCausalLM, dtype=model_args.dtype)
    if state.is_main_process:
        plots.plot_curves(trainer.state.log_history, PPO_CURVES, output_dir / "ppo_training.png", "PPO")
    logger.info(f"PPO done: adapter in {output_dir}, merged policy in {merged_dir}")
    return trainer


def make_parser() -> TrlParser:
    return TrlParser((PPOScriptArguments, PPOConfig, ModelConfig))


if __name__ == "__main__":
    run(main, make_parser)
