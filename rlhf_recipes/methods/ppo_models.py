"""What the PPO stage checks before training and the three models it trains with: policy, reward, value."""

from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import get_quantization_config

from rlhf_recipes.common import models, reward_model
from rlhf_recipes.common.errors import check
from rlhf_recipes.methods.ppo_bridges import ClassifierReward


def check_ppo(script_args, training_args, tokenizer, sft_path: str, reward_path: str, prompts) -> None:
    """What needs the models' configs, the tokenizer, the reward model's files and the prompts, reported together."""
    problems = models.causal_problems(sft_path, "sft_model_path", "ppo")
    if tokenizer.pad_token_id == tokenizer.eos_token_id:
        problems.append(f"sft_model_path {training_args.sft_model_path!r}: the pad token is the eos token "
                        f"({tokenizer.eos_token!r}). PPO marks where a response ends by padding, so they must differ: "
                        "give the tokenizer a distinct pad token.")  # fmt: skip
    if script_args.reward_classifier_label is None:
        problems += reward_model.problems(reward_path, "reward_model_path")
        problems += models.causal_problems(reward_path, "reward_model_path", "ppo", reward_model=True)
        if AutoTokenizer.from_pretrained(reward_path).get_vocab() != tokenizer.get_vocab():
            problems.append(f"reward_model_path {reward_path!r}: its tokenizer differs from the policy's, and PPO "
                            "feeds the policy's token ids straight to the reward model. Train the reward model from "
                            "the SFT model, or set `reward_classifier_label` to use it as a text classifier (its own "
                            "tokenizer re-reads the text).")  # fmt: skip
    per_update = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps
    if len(prompts) < per_update:  # TRL drops incomplete batches: with none complete it would loop forever
        problems.append(f"{script_args.dataset_name}: {len(prompts)} prompts, fewer than one PPO batch "
                        f"(per_device_train_batch_size x gradient_accumulation_steps = {per_update}). Add prompts or "
                        "lower the batch size.")  # fmt: skip
    check(problems)


def load_ppo_models(script_args, model_args, sft_path: str, reward_path: str, tokenizer) -> tuple:
    """(policy, reward model, value model, where the value model started).

    The reward is the reward stage's model, standardized with its recorded statistics
    (`normalize_reward`), or one label of a text classifier (`reward_classifier_label`). The value
    model starts from the reward model (on the same standardized scale) or, for a classifier or
    `value_model_init: sft`, from the SFT model; quantized, it trains a LoRA adapter and its head.
    """
    load = models.model_init_kwargs(model_args) | {"quantization_config": get_quantization_config(model_args)}
    policy = AutoModelForCausalLM.from_pretrained(sft_path, **load)
    classifier = script_args.reward_classifier_label is not None
    if classifier:
        reward = ClassifierReward(
            reward_path, script_args.reward_classifier_label, script_args.reward_classifier_transform, tokenizer
        )
    else:
        reward = reward_model.load_model(reward_path, script_args.normalize_reward, **load)
    # A classifier's head predicts its labels, not values: its value model starts from the SFT model instead.
    from_reward = script_args.value_model_init == "reward" and not classifier
    value_path = reward_path if from_reward else sft_path
    value_model = reward_model.load_model(  # values start on the standardized reward's scale
        value_path, from_reward and script_args.normalize_reward, quiet=True, num_labels=1,
        pad_token_id=tokenizer.pad_token_id, **load,
    )  # fmt: skip
    if load["quantization_config"] is not None:  # 4-bit weights cannot be trained in full: the value model adapts
        value_model = models.add_value_adapter(value_model, model_args)
    return policy, reward, value_model, value_path
