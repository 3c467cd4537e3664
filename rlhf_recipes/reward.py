"""Stage 2, reward model: TRL's `RewardTrainer` (Bradley-Terry pairwise loss) with a LoRA adapter.

    accelerate launch -m rlhf_recipes.reward --config recipes/quickstart/reward.yaml
    python -m rlhf_recipes.reward --config recipes/quickstart/reward.yaml

Starts from the merged SFT model by default (`model_name_or_path` may name the SFT stage's output
folder); its LM head is replaced by a one-output `score` head, trained with the adapter. Data:
any preference format, recognized from its columns (docs/data-formats.md; K-way rankings
give all their pairs); without a test split, `eval_fraction` of the prompts is held out. Outputs
in `output_dir`: the adapter, `merged/` (a standalone sequence-classification model with its
tokenizer, for PPO), `eval_results.json` and `reward_training.png`.
"""

from dataclasses import dataclass, field
from pathlib import Path

import trl
from accelerate import PartialState
from transformers import AutoModelForSequenceClassification
from trl import RewardTrainer, get_quantization_config

from rlhf_recipes.common import artifacts, checkpoints, models, reward_model, stage_data
from rlhf_recipes.common.arguments import PreferenceArguments, StageModelConfig, StageSettings, describe_precision
from rlhf_recipes.common.logs import get_logger
from rlhf_recipes.common.parsing import RecipeParser, run
from rlhf_recipes.common.stages import SFT, Stage
from rlhf_recipes.evaluation import plots

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


def main(script_args: PreferenceArguments, training_args: RewardConfig, model_args: RewardModelConfig):
    """Train the reward adapter and score head; save them, the merged model and the held-out metrics."""
    model_path, tokenizer, prompt_format, train, held_out = stage_data.preference_stage_inputs(
        script_args, training_args, model_args
    )
    encoder_decoder = models.encoder_decoder(model_path)
    if encoder_decoder:
        logger.warning(
            f"model_name_or_path {model_path!r} is a {encoder_decoder}: it trains as a sequence "
            "classifier, which `rlhf-recipes score` and the report read, but the PPO, RLOO and GRPO stages "
            "take a causal reward model only."
        )
    logger.info(
        f"Reward model from {model_path} ({models.describe_quantization(model_args)}): a new one-output `score` "
        f"head on its backbone (any LM head is dropped), {describe_precision(training_args)}, "
        f"{PartialState().num_processes} process(es)."
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

    output_dir = Path(training_args.output_dir)
    merged_dir = artifacts.save_stage(
        trainer,
        model_path,
        tokenizer,
        AutoModelForSequenceClassification,
        prompt_format,
        model_args.use_peft,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
        dtype=model_args.dtype,
        config_updates=statistics,
    )
    if PartialState().is_main_process:
        results = artifacts.write_eval_results(
            output_dir,
            metrics.get("eval_accuracy"),
            metrics.get("eval_margin"),
            train,
            held_out,
            model_path,
            script_args.dataset_name,
            **statistics,
        )
        plots.plot_stage(STAGE, trainer.state.log_history, output_dir)
        logger.info(f"Reward model: held-out accuracy {results['eval_accuracy']}, margin {results['eval_margin']}.")
    logger.info(f"Reward stage done: adapter in {output_dir}, merged model in {merged_dir}")
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
