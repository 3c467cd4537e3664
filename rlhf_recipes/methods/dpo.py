"""Stage 3 straight from the preference pairs, DPO: TRL's `DPOTrainer` with a LoRA adapter on the merged SFT model.

    accelerate launch -m rlhf_recipes.methods.dpo --config recipes/quickstart/dpo.yaml
    python -m rlhf_recipes.methods.dpo --config recipes/quickstart/dpo.yaml

No reward model and no sampling: DPO reads the pairs the reward stage reads (every format it
accepts, K-way rankings expanded the same way, the same held-out split by prompt) and raises the
policy's log-probability of the chosen response over the rejected one, relative to the reference;
`beta` is its KL-to-SFT knob (larger: stays closer), as `kl_coef` is PPO's. The policy is
`model_name_or_path` (the SFT stage's output folder) plus a new LoRA adapter; with the adapter
disabled it is the SFT model, the reference. Outputs in `output_dir`: the adapter, `merged/`,
`eval_results.json` (held-out accuracy of the implicit reward) and `dpo_training.png`.
"""

from dataclasses import dataclass
from pathlib import Path

import trl
from accelerate import PartialState
from transformers import AutoModelForCausalLM, set_seed
from trl import DPOTrainer, get_peft_config, get_quantization_config

from rlhf_recipes.common import artifacts, checkpoints, models, stage_data
from rlhf_recipes.common.arguments import PolicyAdapterConfig, PreferenceArguments, StageSettings, describe_precision
from rlhf_recipes.common.errors import check
from rlhf_recipes.common.logs import get_logger
from rlhf_recipes.common.parsing import RecipeParser, run
from rlhf_recipes.common.stages import SFT, Stage
from rlhf_recipes.evaluation import noop, plots

logger = get_logger(__name__)


@dataclass
class DPOConfig(StageSettings, trl.DPOConfig):
    """TRL's DPOConfig; precision follows the hardware unless set."""


def main(script_args: PreferenceArguments, training_args: DPOConfig, model_args: PolicyAdapterConfig):
    """Train the DPO adapter on the preference pairs; save it with the merged policy under `output_dir`."""
    model_path, tokenizer, prompt_format, train, held_out = stage_data.preference_stage_inputs(
        script_args, training_args, model_args
    )
    check(models.causal_problems(model_path, "model_name_or_path", STAGE.name))
    logger.info(
        f"DPO: policy {model_path} ({models.describe_quantization(model_args)}) + LoRA r={model_args.lora_r} "
        f"(reference = adapter disabled), beta {training_args.beta}, {len(train)} pairs, "
        f"{describe_precision(training_args)}, {PartialState().num_processes} process(es)."
    )

    training_args.model_init_kwargs = models.model_init_kwargs(model_args)
    set_seed(training_args.seed)  # the LoRA weights are drawn before the trainer seeds itself
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

    output_dir = Path(training_args.output_dir)
    merged_dir = artifacts.save_stage(
        trainer, model_path, tokenizer, AutoModelForCausalLM, prompt_format, dtype=model_args.dtype
    )
    if PartialState().is_main_process:
        artifacts.write_eval_results(
            output_dir,
            metrics.get("eval_rewards/accuracies"),
            metrics.get("eval_rewards/margins"),
            train,
            held_out,
            model_path,
            script_args.dataset_name,
        )
        plots.plot_stage(STAGE, trainer.state.log_history, output_dir)
    logger.info(f"DPO done: adapter in {output_dir}, merged policy in {merged_dir}")
    noop.check_stage(STAGE.name, trainer.state.log_history, training_args.beta)
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
