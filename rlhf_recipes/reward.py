"""Stage 2, reward model: TRL's `RewardTrainer` (Bradley-Terry pairwise loss) with a LoRA adapter.

    accelerate launch -m rlhf_recipes.reward --config recipes/quickstart/reward.yaml
    python -m rlhf_recipes.reward --config recipes/quickstart/reward.yaml

Starts from the merged SFT model by default (`model_name_or_path` may name the SFT stage's output
folder); its LM head is replaced by a one-output `score` head, trained with the adapter. Data,
recognized by its columns: prompt/chosen/rejected, chosen/rejected transcripts (Anthropic HH),
K-way rankings (best first), scored answers (WebGPT); without a test split, `eval_fraction` of the
prompts is held out. Outputs in `output_dir`: the adapter, `merged/` (a standalone sequence-
classification model with its tokenizer, for PPO), `eval_results.json` and `reward_training.png`.
"""

from dataclasses import dataclass, field
from pathlib import Path

import trl
from accelerate import PartialState
from transformers import AutoModelForSequenceClassification
from trl import ModelConfig, RewardTrainer, TrlParser, get_peft_config

from rlhf_recipes.common import files, formats, models, normalization, prompts
from rlhf_recipes.common.config import (
    DatasetArguments,
    StageSettings,
    apply_prompt_template,
    describe_precision,
    run,
    uses_chat_template,
)
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import get_logger
from rlhf_recipes.evaluation import plots

logger = get_logger(__name__)
EVAL_FILE = "eval_results.json"


@dataclass
class RewardScriptArguments(DatasetArguments):
    eval_fraction: float = field(
        default=0.1,
        metadata={"help": "Share of prompts held out for evaluation when the data has no test split (by prompt)."},
    )

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 <= self.eval_fraction < 1.0:
            raise RecipeError(f"eval_fraction: expected a number in [0, 1), got {self.eval_fraction}.")


@dataclass
class RewardConfig(StageSettings, trl.RewardConfig):
    """TRL's RewardConfig; precision follows the hardware unless set."""


@dataclass
class RewardModelConfig(ModelConfig):
    """TRL's ModelConfig with the LoRA task type of a reward model."""

    lora_task_type: str = field(
        default="SEQ_CLS", metadata={"help": "LoRA task type; a reward model is a sequence classifier (SEQ_CLS)."}
    )


def load_preferences(script_args: RewardScriptArguments, tokenizer):
    """(train, held-out) preference pairs: the data's test split, or prompts held out by `eval_fraction`."""
    name = script_args.dataset_name
    splits = files.load_splits(name, script_args.dataset_config)

    def pairs(split):
        rows = files.select_split(splits, name, split)
        return formats.to_preference_pairs(rows, f"{name} [{split}]", script_args.column_mapping)

    train = pairs(script_args.dataset_train_split)
    if script_args.dataset_test_split in splits:
        held_out = pairs(script_args.dataset_test_split)
    else:
        train, held_out = formats.split_by_prompt(train, script_args.eval_fraction)
        if len(train) == 0:
            raise RecipeError(f"eval_fraction {script_args.eval_fraction} held out every prompt of {name!r}.")
    logger.info(f"{name}: {len(train)} training pairs, {len(held_out)} held-out pairs.")
    if uses_chat_template(script_args, tokenizer):
        return prompts.preferences_as_chat(train), prompts.preferences_as_chat(held_out)
    if script_args.prompt_template is not None:
        template = lambda row: {"prompt": apply_prompt_template(script_args, row["prompt"])}  # noqa: E731
        train, held_out = train.map(template), held_out.map(template)
    return train, held_out


def main(script_args: RewardScriptArguments, training_args: RewardConfig, model_args: RewardModelConfig):
    """Train the reward adapter and score head; save them, the merged model and the held-out metrics."""
    state = PartialState()
    if model_args.use_peft and model_args.lora_task_type != "SEQ_CLS":
        raise RecipeError(
            f"lora_task_type: a reward model needs SEQ_CLS (a sequence classifier with a score head), not "
            f"{model_args.lora_task_type}; with CAUSAL_LM the score head is not trained or saved."
        )
    model_path = models.resolve_model(model_args)
    tokenizer = models.load_tokenizer(model_path, pad_token=training_args.pad_token)
    train, held_out = load_preferences(script_args, tokenizer)
    if len(held_out) == 0 and training_args.eval_strategy != "no":
        raise RecipeError("eval_strategy is set but no pairs are held out: raise eval_fraction or add a test split.")
    logger.info(
        f"Reward model from {model_path} ({models.describe_quantization(model_args)}): a new one-output `score` "
        f"head on its backbone (any LM head is dropped), "
        f"{describe_precision(training_args)}, {state.num_processes} process(es)."
    )

    training_args.model_init_kwargs = models.model_init_kwargs(model_args)
    trainer = RewardTrainer(
        model=model_path,
        args=training_args,
        train_dataset=train,
        eval_dataset=held_out if len(held_out) else None,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        quantization_config=models.quantization(model_args),
    )
    if model_args.load_in_4bit and not (training_args.bf16 or training_args.fp16):
        # TRL casts QLoRA's trainable weights to bf16, relying on mixed-precision autocast; without it (CPU, fp32)
        # the bf16 score head cannot read fp32 hidden states, so keep the trainable weights in fp32.
        for param in trainer.model.parameters():
            if param.requires_grad:
                param.data = param.data.float()
    trainer.train()
    metrics = trainer.evaluate() if len(held_out) else {}
    statistics = normalization.score_statistics(trainer)  # saved in the merged config.json, for PPO

    output_dir = Path(training_args.output_dir)
    merged_dir = models.save_stage(
        trainer, model_path, tokenizer, AutoModelForSequenceClassification, model_args.use_peft,
        num_labels=1, pad_token_id=tokenizer.pad_token_id, dtype=model_args.dtype, config_updates=statistics,
    )  # fmt: skip
    if state.is_main_process:
        results = {
            "eval_accuracy": metrics.get("eval_accuracy"),
            "eval_margin": metrics.get("eval_margin"),
            **statistics,
            "num_train_pairs": len(train),
            "num_eval_pairs": len(held_out),
            "model_name_or_path": model_path,
            "dataset_name": script_args.dataset_name,
        }
        models.write_json(output_dir / EVAL_FILE, results)
        plots.plot_curves(
            trainer.state.log_history,
            {"loss": "training loss", "eval_accuracy": "held-out pairwise accuracy"},
            output_dir / "reward_training.png",
            "Reward model",
        )
        logger.info(f"Reward model: held-out accuracy {results['eval_accuracy']}, margin {results['eval_margin']}.")
    logger.info(f"Reward stage done: adapter in {output_dir}, merged model in {merged_dir}")
    return trainer


def make_parser() -> TrlParser:
    return TrlParser((RewardScriptArguments, RewardConfig, RewardModelConfig))


if __name__ == "__main__":
    run(main, make_parser)
