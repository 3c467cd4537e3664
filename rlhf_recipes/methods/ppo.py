"""Stage 3, PPO: our `PPOTrainer` (TRL 1.12's algorithm) with a LoRA adapter on the SFT model, against the reward
model, KL-penalised to SFT; PPO-ptx with `ptx_coef` (docs/ppo.md, docs/methods.md)."""

from dataclasses import dataclass, field

from trl import get_peft_config

from rlhf_recipes.common import artifacts, checkpoints, models, ptx, stage_data
from rlhf_recipes.common.arguments import SampledPromptArguments, StageModelConfig, StageSettings
from rlhf_recipes.common.parsing import RecipeParser, run
from rlhf_recipes.common.prompts import choose_format
from rlhf_recipes.common.ptx import PtxSettings
from rlhf_recipes.common.stages import REWARD, SFT, Stage
from rlhf_recipes.methods import ppo_trainer
from rlhf_recipes.methods.ppo_models import check_ppo, load_ppo_models
from rlhf_recipes.methods.ppo_trainer import PPOTrainer
from rlhf_recipes.training import finish_stage, start_stage


@dataclass
class PPOScriptArguments(SampledPromptArguments):
    value_model_init: str = field(
        default="reward",
        metadata={
            "help": "Initialise the value model from the reward model or the SFT model.",
            "choices": ["reward", "sft"],
        },
    )


@dataclass
class PPOConfig(StageSettings, PtxSettings, ppo_trainer.PPOConfig):
    """TRL 1.12's PPOConfig and PPO-ptx's γ; precision follows the hardware, and responses stop at the eos token by
    default."""

    stop_token: str | None = field(default="eos", metadata={"help": "Truncate responses after this token ('eos')."})

    def problems(self) -> list[str]:
        return super().problems() + ppo_trainer.problems(self)


@dataclass
class PPOModelConfig(StageModelConfig):
    """TRL's ModelConfig for the policy's LoRA adapter; the models themselves come from PPOConfig's paths."""

    def problems(self) -> list[str]:
        found = super().problems()
        if self.model_name_or_path is not None:
            found.append("model_name_or_path: PPO starts from `sft_model_path`; remove model_name_or_path.")
        if not self.use_peft:
            found.append("use_peft: false is not supported by this recipe; PPO trains a LoRA adapter on the SFT model.")
        return found


def main(script_args: PPOScriptArguments, training_args: PPOConfig, model_args: PPOModelConfig):
    """Optimise the policy adapter against the reward; save it with the merged policy under `output_dir`."""
    sft_path = artifacts.model_folder(training_args.sft_model_path, "sft_model_path")
    reward_path = artifacts.model_folder(training_args.reward_model_path, "reward_model_path")
    tokenizer = models.load_tokenizer(sft_path, padding_side="left", pad_token=training_args.pad_token)
    prompt_format = choose_format(script_args, tokenizer, sft_path)
    train = stage_data.prompt_ids(script_args, script_args.dataset_train_split, prompt_format, tokenizer)
    check_ppo(script_args, training_args, tokenizer, sft_path, reward_path, train)
    policy, reward_model, value_model, value_path = load_ppo_models(
        script_args, model_args, sft_path, reward_path, tokenizer
    )
    start_stage(
        f"PPO: policy {sft_path} ({models.describe_quantization(model_args)}) + LoRA r={model_args.lora_r} "
        f"(reference = adapter disabled), reward {reward_path}, value model from {value_path}; {len(train)} prompts, "
        f"{training_args.total_episodes} episodes",
        training_args,
    )
    trainer = PPOTrainer(
        args=training_args,
        processing_class=tokenizer,
        model=policy,
        reward_model=reward_model,
        train_dataset=train,
        value_model=value_model,
        eval_dataset=train.select(range(min(8, len(train)))) if training_args.num_sample_generations > 0 else None,
        peft_config=get_peft_config(model_args),
        ptx=ptx.batches(training_args, prompt_format, tokenizer),
    )
    checkpoints.train(trainer, training_args, STAGE.name)
    rollouts = {"max_new_tokens": training_args.response_length, "temperature": training_args.temperature}
    finish_stage(STAGE, trainer, sft_path, tokenizer, prompt_format, generation=rollouts, dtype=model_args.dtype)
    return trainer


def make_parser() -> RecipeParser:
    return RecipeParser((PPOScriptArguments, PPOConfig, PPOModelConfig))


STAGE = Stage(
    "ppo",
    "PPO against the reward model with a value model, KL-penalised to SFT",
    make_parser,
    main,
    reads={SFT: "--sft_model_path", REWARD: "--reward_model_path"},
    curves={
        "objective/scores": "reward (reward model)",
        "objective/kl": "KL to the SFT model",
        "objective/entropy": "policy entropy",
    },
)

if __name__ == "__main__":
    run(main, make_parser)
