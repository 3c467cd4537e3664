"""What the PPO stage checks before training and the three models it trains with: policy, reward, value."""

import torch
from accelerate import PartialState
from torch import nn
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.modeling_outputs import BaseModelOutput
from trl import get_quantization_config

from rlhf_recipes.common import models, reward_model
from rlhf_recipes.common.errors import check
from rlhf_recipes.common.reward_model import LabelScore


def check_ppo(script_args, training_args, tokenizer, sft_path: str, reward_path: str, prompts) -> None:
    """What needs the models' configs, the tokenizer, the reward model's files and the prompts, reported together."""
    problems = models.causal_problems(sft_path, "sft_model_path", "ppo")
    if tokenizer.pad_token_id == tokenizer.eos_token_id:
        problems.append(
            f"sft_model_path {training_args.sft_model_path!r}: the pad token is the eos token "
            f"({tokenizer.eos_token!r}). PPO marks where a response ends by padding, so they must differ: "
            "give the tokenizer a distinct pad token."
        )
    if script_args.reward_classifier_label is None:
        problems += reward_model.problems(reward_path, "reward_model_path")
        problems += models.causal_problems(reward_path, "reward_model_path", "ppo", reward_model=True)
        if AutoTokenizer.from_pretrained(reward_path).get_vocab() != tokenizer.get_vocab():
            problems.append(
                f"reward_model_path {reward_path!r}: its tokenizer differs from the policy's, and PPO "
                "feeds the policy's token ids straight to the reward model. Train the reward model from "
                "the SFT model, or set `reward_classifier_label` to use it as a text classifier (its own "
                "tokenizer re-reads the text)."
            )
    processes = PartialState().num_processes
    per_update = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps * processes
    batch = (
        f"one PPO batch (per_device_train_batch_size x gradient_accumulation_steps x {processes} process(es) "
        f"= {per_update})"
    )
    if len(prompts) < per_update:  # incomplete batches are dropped: with none complete there is nothing to train on
        problems.append(
            f"{script_args.dataset_name}: {len(prompts)} prompts, fewer than {batch}. Add prompts or "
            "lower the batch size."
        )
    if training_args.total_episodes is not None and training_args.total_episodes < per_update:
        problems.append(
            f"total_episodes: {training_args.total_episodes} is smaller than {batch}, so PPO would not "
            "make one update. Raise total_episodes or lower the batch size."
        )
    stop_token = training_args.stop_token
    if stop_token not in (None, "eos") and stop_token not in tokenizer.get_vocab():
        problems.append(
            f"stop_token: {stop_token!r} is not a token of the policy's vocabulary; use 'eos', a single "
            f"token the tokenizer has (e.g. {tokenizer.eos_token!r}), or stop_token_id."
        )
    stop_id = training_args.stop_token_id
    if stop_id is not None and not 0 <= stop_id < len(tokenizer):
        problems.append(
            f"stop_token_id: {stop_id} is not a token of the policy's vocabulary (ids 0 to "
            f"{len(tokenizer) - 1}). Use stop_token: eos, or an id the tokenizer has."
        )
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
        value_path,
        from_reward and script_args.normalize_reward,
        quiet=True,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
        **load,
    )
    if load["quantization_config"] is not None:  # 4-bit weights cannot be trained in full: the value model adapts
        value_model = models.add_value_adapter(value_model, model_args)
    return policy, reward, value_model, value_path


class _ReadAsText(nn.Module):
    def __init__(self, label_score: LabelScore, policy_tokenizer):
        super().__init__()
        self.classifier = label_score.classifier  # a submodule, so it moves with the reward model
        self.label_score = label_score
        self.policy_tokenizer = policy_tokenizer

    @torch.no_grad()
    def forward(self, input_ids, attention_mask, **_):
        texts = self.policy_tokenizer.batch_decode(input_ids * attention_mask, skip_special_tokens=True)
        reward = self.label_score(texts).to(input_ids.device)
        hidden = reward[:, None, None].expand(-1, input_ids.shape[1], 1)
        return BaseModelOutput(last_hidden_state=hidden, hidden_states=(hidden,))


class ClassifierReward(nn.Module):
    """Reward = `transform` of one label's logit from a sequence classifier at `path`, which reads the policy's ids
    as text with its own tokenizer; PPO reads it as a reward model (`base_model_prefix` backbone, then `score`)."""

    base_model_prefix = "reader"

    def __init__(self, path: str, label: str, transform: str, policy_tokenizer):
        super().__init__()
        label_score = LabelScore(path, label, transform)
        self.reader = _ReadAsText(label_score, policy_tokenizer)
        self.score = nn.Identity()
        self.config = label_score.classifier.config

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ClassifierReward is read through PPO's reward interface (reader + score).")
