"""Stage 2, the reward model: TRL's `RewardTrainer` (Bradley-Terry pairs) with a LoRA adapter and a new one-output
`score` head on the SFT model; it writes `merged/` for the policy stages and the held-out accuracy (docs/outputs.md)."""

from dataclasses import dataclass, field

import trl
from transformers import AutoModelForSequenceClassification
from trl import RewardTrainer, get_quantization_config

from rlhf_recipes.common import artifacts, checkpoints, models, reward_model, stage_data
from rlhf_recipes.common.arguments import PreferenceArguments, StageModelConfig, StageSettings
from rlhf_recipes.common.logs import get_logger
from rlhf_recipes.common.parsing import RecipeParser, run
from rlhf_recipes.common.stages import SFT, Stage
from rlhf_recipes.training import finish_stage, start_stage

logger = get_logger(__name__)


@dataclass
class RewardConfig(StageSettings, trl.RewardConfig):
    """TRL's RewardConfig; precision follows the hardware unless set."""


@dataclass
class RewardModelConfig(StageModelConfig):
    """TRL's ModelConfig with the LoRA task type of a reward model."""

    lora_task_type: str = field(
        default="SEQ_CLS", metadata={"help": "LoRA task type; a reward model is a sequence classifier (SEQ_CLS)."}
    )

    def problems(self) -> list[str]:
        found = super().problems()
        if self.use_peft and self.lora_task_type != "SEQ_CLS":
            found.append(
                f"lora_task_type: a reward model needs SEQ_CLS (a sequence classifier with a score head), "
                f"not {self.lora_task_type}; with CAUSAL_LM the score head is not trained or saved."
            )
        return found


def encoder_decoder_kind(model_path: str) -> str | None:
    """The kind of an encoder-decoder model (None for a causal one), with a warning that only the report reads it."""
    kind = models.encoder_decoder(model_path)
    if kind:
        logger.warning(
            f"model_name_or_path {model_path!r} is a {kind}: it trains as a sequence classifier, which "
            "`rlhf-recipes score` and the report read, but the PPO, RLOO and GRPO stages take a causal reward model only."
        )
    return kind


def main(script_args: PreferenceArguments, training_args: RewardConfig, model_args: RewardModelConfig):
    """Train the reward adapter and score head; save them, the merged model and the held-out metrics."""
    model_path, tokenizer, prompt_format, train, held_out = stage_data.preference_stage_inputs(
        script_args, training_args, model_args
    )
    encoder_decoder = encoder_decoder_kind(model_path)
    start_stage(
        f"Reward model from {model_path} ({models.describe_quantization(model_args)}): a new one-output `score` head "
        "on its backbone (any LM head is dropped)",
        training_args,
    )
    training_args.model_init_kwargs = models.model_init_kwargs(model_args)
    trainer = RewardTrainer(
        model=model_path,
        args=training_args,
        train_dataset=train,
        eval_dataset=held_out if len(held_out) else None,
        processing_class=tokenizer,
        peft_config=reward_model.peft_config(model_args, encoder_decoder is not None),
        quantization_config=get_quantization_config(model_args),
    )
    if model_args.load_in_4bit and not (training_args.bf16 or training_args.fp16):
        models.keep_trainable_in_fp32(trainer.model)
    checkpoints.train(trainer, training_args, STAGE.name)
    metrics = trainer.evaluate() if len(held_out) else {}
    statistics = reward_model.score_statistics(trainer)  # saved in the merged config.json, for PPO
    accuracy, margin = metrics.get("eval_accuracy"), metrics.get("eval_margin")
    results = artifacts.eval_results(
        accuracy, margin, train, held_out, model_path, script_args.dataset_name, **statistics
    )
    finish_stage(
        STAGE,
        trainer,
        model_path,
        tokenizer,
        prompt_format,
        AutoModelForSequenceClassification,
        results,
        use_peft=model_args.use_peft,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
        dtype=model_args.dtype,
        config_updates=statistics,
    )
    return trainer


def make_parser() -> RecipeParser:
    return RecipeParser((PreferenceArguments, RewardConfig, RewardModelConfig))


STAGE = Stage(
    "reward",
    "a reward model from preference pairs (TRL RewardTrainer)",
    make_parser,
    main,
    reads={SFT: "--model_name_or_path"},
    curves={"loss": "training loss", "eval_accuracy": "held-out pairwise accuracy"},
)

if __name__ == "__main__":
    run(main, make_parser)
