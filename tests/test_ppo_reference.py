"""Our PPO trainer held to TRL 1.12's PPOTrainer, the reference: same models, data, config and seed.

Runs where the reference exists (TRL 1.12, `make test-trl1.12`); elsewhere it is skipped, saying so.
"""

import importlib.util

import pytest
import torch
from transformers import set_seed

from bench import trl_ppo
from rlhf_recipes.common import artifacts, models, stage_data
from rlhf_recipes.common.parsing import parse
from rlhf_recipes.common.prompts import choose_format
from rlhf_recipes.methods import ppo
from rlhf_recipes.methods.ppo_models import load_ppo_models
from tests.conftest import QUICKSTART

REFERENCE = "trl.experimental.ppo"
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("trl.experimental") is None or importlib.util.find_spec(REFERENCE) is None,
    reason="the reference, TRL 1.12's PPOTrainer, is not in this TRL",
)

EPISODES = 96  # within the first pass over the 128 prompts (later passes are shuffled from seed + pass)
COMPARED = (
    "objective/kl",
    "objective/scores",
    "objective/entropy",
    "objective/non_score_reward",
    "objective/rlhf_reward",
    "loss/policy_avg",
    "loss/value_avg",
    "policy/approxkl_avg",
    "policy/clipfrac_avg",
    "val/clipfrac_avg",
    "policy/entropy_avg",
    "val/ratio",
)
TOLERANCE = 1e-4  # relative, or absolute near 0: float rounding of the same sums in another order


def setup(tmp_path, tiny_dir, reward_dir, prompts_file, name, *overrides):
    argv = [
        "--config",
        str(QUICKSTART / "ppo.yaml"),
        "--sft_model_path",
        str(tiny_dir),
        "--reward_model_path",
        str(reward_dir),
        "--dataset_name",
        str(prompts_file),
        "--output_dir",
        str(tmp_path / name),
        "--per_device_train_batch_size",
        "16",
        "--local_rollout_forward_batch_size",
        "8",
        "--total_episodes",
        str(EPISODES),
        "--num_ppo_epochs",
        "2",
        "--response_length",
        "12",
        "--num_sample_generations",
        "0",
        "--report_to",
        "none",
        "--save_strategy",
        "no",
        "--disable_tqdm",
        "true",
        *overrides,
    ]
    script_args, training_args, model_args = parse(ppo.make_parser(), argv)
    sft_path = artifacts.model_folder(training_args.sft_model_path, "sft_model_path")
    reward_path = artifacts.model_folder(training_args.reward_model_path, "reward_model_path")
    tokenizer = models.load_tokenizer(sft_path, padding_side="left")
    prompt_format = choose_format(script_args, tokenizer, sft_path)
    prompts = stage_data.prompt_ids(script_args, "train", prompt_format, tokenizer)
    policy, reward, value, _ = load_ppo_models(script_args, model_args, sft_path, reward_path, tokenizer)
    from trl import get_peft_config

    return training_args, tokenizer, prompts, policy, reward, value, get_peft_config(model_args)


def run_ours(tmp_path, tiny_dir, reward_dir, prompts_file, *overrides):
    args, tokenizer, prompts, policy, reward, value, peft = setup(
        tmp_path, tiny_dir, reward_dir, prompts_file, "ours", *overrides
    )
    set_seed(args.seed)
    trainer = ppo.PPOTrainer(
        args=args,
        processing_class=tokenizer,
        model=policy,
        reward_model=reward,
        value_model=value,
        train_dataset=prompts,
        peft_config=peft,
    )
    rollouts, make = [], trainer.make_experience
    trainer.make_experience = lambda queries: rollouts.append(experience := make(queries)) or experience
    trainer.train()
    return [e for e in trainer.state.log_history if "objective/kl" in e], rollouts[0].query_responses


def run_reference(tmp_path, tiny_dir, reward_dir, prompts_file, monkeypatch, *overrides):
    from trl.experimental.ppo import PPOTrainer, ppo_trainer

    args, tokenizer, prompts, policy, reward, value, peft = setup(
        tmp_path, tiny_dir, reward_dir, prompts_file, "trl", *overrides
    )
    reference_args = trl_ppo.reference_config(args)
    rollouts, generate = [], ppo_trainer.batch_generation
    monkeypatch.setattr(
        ppo_trainer, "batch_generation", lambda *a, **k: rollouts.append(out := generate(*a, **k)) or out
    )
    set_seed(args.seed)
    trainer = PPOTrainer(reference_args, tokenizer, policy, None, reward, prompts, value, peft_config=peft)
    trainer.train()
    return [e for e in trainer.state.log_history if "objective/kl" in e], rollouts[0][0]


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [[], ["--kl_estimator", "k3", "--whiten_rewards", "true", "--gradient_accumulation_steps", "2"]],
    ids=["quickstart", "k3-whiten-ga2"],
)
def test_our_ppo_matches_trl_1_12(tmp_path, tiny_dir, trained_reward, prompts_file, monkeypatch, overrides):
    ours, our_rollouts = run_ours(tmp_path, tiny_dir, trained_reward[1], prompts_file, *overrides)
    reference, reference_rollouts = run_reference(
        tmp_path, tiny_dir, trained_reward[1], prompts_file, monkeypatch, *overrides
    )
    assert torch.equal(our_rollouts, reference_rollouts)  # the first update's prompts and sampled tokens
    assert len(ours) == len(reference) == EPISODES // 16 // (2 if overrides else 1)
    worst = 0.0
    for update, (mine, theirs) in enumerate(zip(ours, reference), 1):
        for key in COMPARED:
            difference = abs(mine[key] - theirs[key]) / max(1.0, abs(theirs[key]))
            worst = max(worst, difference)
            assert difference <= TOLERANCE, f"update {update}, {key}: ours {mine[key]}, TRL 1.12 {theirs[key]}"
    print(f"largest relative difference over {len(ours)} updates: {worst:.2e}")
