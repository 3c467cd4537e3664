"""Stage 3 straight from the preference pairs, DPO: TRL's `DPOTrainer` with a LoRA adapter on the SFT model, no
reward model and no sampling; `beta` is its KL-to-SFT knob (docs/methods.md)."""

from dataclasses import dataclass

import trl
from trl import DPOTrainer, get_peft_config, get_quantization_config

from rlhf_recipes.common import artifacts, checkpoints, models, stage_data
from rlhf_recipes.common.arguments import PolicyAdapterConfig, PreferenceArguments, StageSettings
from rlhf_recipes.common.errors import check
from rlhf_recipes.common.parsing import RecipeParser, run
from rlhf_recipes.common.stages import SFT, Stage
from rlhf_recipes.training import finish_stage, start_stage


@dataclass
class DPOConfig(StageSettings, trl.DPOConfig):
    """TRL's DPOConfig; precision follows the hardware unless set."""


def main(script_args: PreferenceArguments, training_args: DPOConfig, model_args: PolicyAdapterConfig):
    """Train the DPO adapter on the preference pairs; save it with the merged policy under `output_dir`."""
    model_path, tokenizer, prompt_format, train, held_out = stage_data.preference_stage_inputs(
        script_args, training_args, model_args
    )
    check(models.causal_problems(model_path, "model_name_or_path", STAGE.name))
    start_stage(
        f"DPO: policy {model_path} ({models.describe_quantization(model_args)}) + LoRA r={model_args.lora_r} "
        f"(reference = adapter disabled), beta {training_args.beta}, {len(train)} pairs",
        training_args,
    )
    training_args.model_init_kwargs = models.model_init_kwargs(model_args)
    trainer = DPOTrainer(
        model=model_path,
        args=training_args,
        train_dataset=train,
        eval_dataset=held_out if len(held_out) else None,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        quantization_config=get_quantization_config(model_args),
    )
    checkpoints.train(trainer, training_args, STAGE.name)
    metrics = trainer.evaluate() if len(held_out) else {}
    accuracy, margin = metrics.get("eval_rewards/accuracies"), metrics.get("eval_rewards/margins")
    results = artifacts.eval_results(accuracy, margin, train, held_out, model_path, script_args.dataset_name)
    finish_stage(
        STAGE,
        trainer,
        model_path,
        tokenizer,
        prompt_format,
        eval_results=results,
        beta=training_args.beta,
        dtype=model_args.dtype,
    )
    return trainer


def make_parser() -> RecipeParser:
    return RecipeParser((PreferenceArguments, DPOConfig, PolicyAdapterConfig))


STAGE = Stage(
    "dpo",
    "DPO straight from the preference pairs, no reward model or sampling (TRL DPOTrainer)",
    make_parser,
    main,
    reads={SFT: "--model_name_or_path"},
    curves={
        "loss": "DPO loss",
        "rewards/margins": "implicit reward margin (chosen - rejected)",
        "eval_rewards/accuracies": "held-out preference accuracy",
    },
)

if __name__ == "__main__":
    run(main, make_parser)
