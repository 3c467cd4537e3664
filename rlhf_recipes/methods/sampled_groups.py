"""What the RLOO and GRPO stages share: a group of sampled responses per prompt, scored by the reward stage's model
(standardized) or one label of a text classifier; only TRL's trainer and config differ (docs/methods.md)."""

from dataclasses import dataclass, field

from accelerate import PartialState
from transformers import AutoTokenizer
from trl import get_peft_config, get_quantization_config

from rlhf_recipes.common import artifacts, checkpoints, models, ptx, reward_model, stage_data
from rlhf_recipes.common.arguments import SampledPromptArguments
from rlhf_recipes.common.errors import check
from rlhf_recipes.common.logs import get_logger
from rlhf_recipes.common.prompts import choose_format
from rlhf_recipes.common.stages import REWARD, SFT, Stage
from rlhf_recipes.training import finish_stage, start_stage

logger = get_logger(__name__)


@dataclass
class GroupArguments(SampledPromptArguments):
    """Prompts and reward of an RLOO or GRPO stage."""

    reward_model_path: str | None = field(
        default=None,
        metadata={"help": "The reward stage's output folder (or a text classifier, with `reward_classifier_label`)."},
    )

    def problems(self) -> list[str]:
        found = super().problems()
        if self.reward_model_path is None:
            found.append(
                "reward_model_path: not set; give the reward stage's output folder (or a text classifier "
                "together with `reward_classifier_label`)."
            )
        return found


def check_group(stage: str, script_args, training_args, tokenizer, model_path: str, reward_path: str, prompts) -> None:
    """What needs the models' configs, the tokenizer, the reward model's files and the prompts, reported together.

    Unlike PPO, a pad token equal to eos is fine here: TRL ends each response at its first eos, and the
    reward model reads each text as the reward stage trained it, whatever its pad token.
    """
    problems = models.causal_problems(model_path, "model_name_or_path", stage)
    if script_args.reward_classifier_label is None:
        problems += reward_model.problems(reward_path, "reward_model_path")
        problems += models.causal_problems(reward_path, "reward_model_path", stage, reward_model=True)
        if not problems and AutoTokenizer.from_pretrained(reward_path).get_vocab() != tokenizer.get_vocab():
            logger.warning(
                f"reward_model_path {reward_path!r}: its tokenizer differs from the policy's. Each response "
                "is re-read as text with the reward model's own tokenizer and prompt format, which works, "
                "but a reward model trained on another model's responses may judge these ones poorly."
            )
    per_generation = training_args.generation_batch_size // training_args.num_generations
    if len(prompts) < per_generation:  # TRL's sampler drops incomplete batches: with none complete nothing trains
        problems.append(
            f"{script_args.dataset_name}: {len(prompts)} prompts, fewer than one generation batch "
            f"(generation_batch_size / num_generations = {per_generation}). Add prompts or lower "
            "per_device_train_batch_size."
        )
    check(problems)


class RewardFunction:
    """A reward function as TRL's RLOO and GRPO trainers call it: one float per sampled completion.

    The dataset's `source_prompt` column (the prompt as the data holds it) reaches it beside TRL's
    own arguments, so the reward model renders each pair in its own format whatever the policy's is.
    """

    def __init__(self, score, eos_token_id: int, name: str):
        self.score, self.eos_token_id, self.__name__ = score, eos_token_id, name

    def __call__(self, prompts, completions, completion_ids, source_prompt, **_) -> list[float]:
        responses = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        if isinstance(self.score, reward_model.LabelScore):
            return self.score.score(source_prompt, responses)
        return self.score.score(source_prompt, responses, [self.eos_token_id in ids for ids in completion_ids])


def reward_function(script_args, reward_path: str, policy_tokenizer, device) -> RewardFunction:
    """The reward of `script_args` as a TRL reward function: the reward model (standardized when
    `normalize_reward`), or (`reward_classifier_label`) one label of a classifier."""
    label = script_args.reward_classifier_label
    if label is not None:
        score = reward_model.LabelScore(reward_path, label, script_args.reward_classifier_transform, device)
        return RewardFunction(score, policy_tokenizer.eos_token_id, f"classifier_{label}")
    score = reward_model.RewardModel(reward_path, "reward_model_path", script_args.normalize_reward, device)
    return RewardFunction(score, policy_tokenizer.eos_token_id, "reward_model")


def stage(name: str, summary: str, make_parser, main) -> Stage:
    """The declaration of a group method: it starts from the SFT and reward stages' outputs."""
    curves = {
        "reward": "reward (as trained on)",
        "kl": "KL to the SFT model",
        "completions/mean_length": "response length (tokens)",
    }
    return Stage(name, summary, make_parser, main, {SFT: "--model_name_or_path", REWARD: "--reward_model_path"}, curves)


def train(trainer_class, stage: Stage, script_args: GroupArguments, training_args, model_args):
    """Train the policy adapter with `trainer_class` (TRL's RLOOTrainer or GRPOTrainer, with `ptx.PtxLoss`); save
    it with the merged policy under `output_dir`."""
    model_path = artifacts.resolve_model(model_args)
    reward_path = artifacts.model_folder(script_args.reward_model_path, "reward_model_path")
    tokenizer = models.load_tokenizer(model_path, padding_side="left", pad_token=training_args.pad_token)
    prompt_format = choose_format(script_args, tokenizer, model_path)
    train_prompts = stage_data.prompt_rows(script_args, script_args.dataset_train_split, prompt_format, tokenizer)
    check_group(stage.name, script_args, training_args, tokenizer, model_path, reward_path, train_prompts)
    reward = reward_function(script_args, reward_path, tokenizer, PartialState().device)
    start_stage(
        f"{stage.name.upper()}: policy {model_path} ({models.describe_quantization(model_args)}) + LoRA "
        f"r={model_args.lora_r} (reference = adapter disabled, beta {training_args.beta}), reward {reward.__name__} "
        f"from {reward_path}; {len(train_prompts)} prompts, {training_args.num_generations} responses each",
        training_args,
    )
    training_args.model_init_kwargs = models.model_init_kwargs(model_args)
    trainer = trainer_class(
        model=model_path,
        reward_funcs=reward,
        args=training_args,
        train_dataset=train_prompts.remove_columns("input_ids"),
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        quantization_config=get_quantization_config(model_args),
        ptx=ptx.batches(training_args, prompt_format, tokenizer),
    )
    checkpoints.train(trainer, training_args, stage.name)
    rollouts = {"max_new_tokens": training_args.max_completion_length, "temperature": training_args.temperature}
    finish_stage(stage, trainer, model_path, tokenizer, prompt_format, generation=rollouts, dtype=model_args.dtype)
    return trainer
