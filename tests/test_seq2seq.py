"""Encoder-decoder models (T5): the reward stage trains one as a sequence classifier; every policy stage refuses
one, and PPO, RLOO and GRPO an encoder-decoder reward model, before loading any weights."""

import os
import subprocess
import sys

import pytest
import torch
from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration, T5ForSequenceClassification

from rlhf_recipes import reward, sft
from rlhf_recipes.common import artifacts, reward_model
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.methods import dpo, grpo, rloo
from tests.conftest import QUICKSTART, REPO, run_stage

GROUP = ["--max_steps", "4", "--per_device_train_batch_size", "16", "--num_generations", "4"]
PPO = ["--total_episodes", "64", "--per_device_train_batch_size", "16", "--local_rollout_forward_batch_size", "16"]


def save_t5(model_class, folder, tokenizer, **config):
    """A tiny T5 (one encoder and one decoder layer) of `model_class`, with `tokenizer` beside it."""
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=1,
        num_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        **config,
    )
    torch.manual_seed(0)
    model_class(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def t5_dir(tmp_path_factory, tiny_dir):
    """A tiny T5ForConditionalGeneration with the built-in tiny model's tokenizer."""
    folder = tmp_path_factory.mktemp("t5") / "t5"
    return save_t5(T5ForConditionalGeneration, folder, AutoTokenizer.from_pretrained(tiny_dir))


@pytest.fixture(scope="session")
def t5_reward_model(tmp_path_factory, tiny_dir):
    """A T5 reward model as the reward stage saves one (a one-output T5ForSequenceClassification), untrained."""
    folder = tmp_path_factory.mktemp("t5-classifier") / "t5"
    return save_t5(T5ForSequenceClassification, folder, AutoTokenizer.from_pretrained(tiny_dir), num_labels=1)


def run_policy(stage: str, output_dir, policy, reward_dir=None, *overrides):
    """Run `stage` from the policy `policy`; PPO, RLOO and GRPO score with `reward_dir`."""
    module = {"sft": sft, "dpo": dpo, "rloo": rloo, "grpo": grpo}.get(stage)
    if stage == "ppo":
        from rlhf_recipes.methods import ppo as module

        paths = ["--sft_model_path", str(policy), "--reward_model_path", str(reward_dir), *PPO]
    else:
        paths = ["--model_name_or_path", str(policy)]
        paths += ["--reward_model_path", str(reward_dir), *GROUP] if reward_dir else []
    return run_stage(module, QUICKSTART / f"{stage}.yaml", *paths, "--output_dir", str(output_dir), *overrides)


@pytest.mark.parametrize("stage", ["sft", "dpo", "ppo", "rloo", "grpo"])
def test_an_encoder_decoder_policy_is_refused_before_training(stage, tmp_path, t5_dir, emotion_classifier):
    field = "sft_model_path" if stage == "ppo" else "model_name_or_path"
    classifier = ["--reward_classifier_label", "joy"] if stage in ("ppo", "rloo", "grpo") else []
    reward_dir = emotion_classifier if classifier else None
    with pytest.raises(RecipeError) as refused:
        run_policy(stage, tmp_path / "out", t5_dir, reward_dir, *classifier)
    message = str(refused.value)
    assert message.startswith(f"{field} {str(t5_dir)!r} is a T5ForConditionalGeneration (model_type t5, an encoder")
    assert "TRL trains causal LMs (decoder-only" in message and f"in the {stage.upper()} stage" in message
    assert "recipes/emotion-gpt2/ runs the classifier-reward PPO" in message and "\n" not in message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("stage", ["ppo", "rloo", "grpo"])
def test_an_encoder_decoder_reward_model_is_refused_before_training(stage, tmp_path, tiny_dir, t5_reward_model):
    with pytest.raises(RecipeError) as refused:
        run_policy(stage, tmp_path / "out", tiny_dir, t5_reward_model)
    message = str(refused.value)
    assert message.startswith(
        f"reward_model_path {str(t5_reward_model)!r} is a T5ForSequenceClassification "
        f"(model_type t5, an encoder-decoder). The {stage.upper()} stage scores responses with "
        "a causal reward model"
    )
    assert "recipes/emotion-gpt2/" in message and "`reward_classifier_label`" in message
    assert not (tmp_path / "out").exists()


def test_the_reward_stage_trains_an_encoder_decoder_and_saves_the_trained_head(tmp_path, t5_dir, rankings_file):
    output_dir = tmp_path / "reward"
    trainer = run_stage(
        reward,
        QUICKSTART / "reward.yaml",
        "--model_name_or_path",
        str(t5_dir),
        "--dataset_name",
        str(rankings_file),
        "--output_dir",
        str(output_dir),
        "--max_steps",
        "40",
        "--eval_strategy",
        "no",
        "--logging_steps",
        "5",
        "--save_strategy",
        "no",
    )
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    assert len(losses) == 8 and sum(losses[-2:]) < sum(losses[:2])
    assert artifacts.read_json(output_dir / artifacts.EVAL_FILE)["eval_accuracy"] > 0.6  # 0.73 here; chance is 0.5
    merged = output_dir / artifacts.MERGED_DIR
    # peft saves a head called `score` or `classifier`; T5's `classification_head` is added, or the merge draws anew
    loaded = reward_model.RewardModel(str(merged))
    assert type(loaded.model) is T5ForSequenceClassification
    prompts = ["Write a review of the hotel.", "Write a review of the film."]
    responses = ["great lovely superb.", "awful dull."]
    trained = reward_model.scores(trainer.model.eval(), loaded.tokenizer, loaded.prompt_format, prompts, responses)
    assert torch.allclose(torch.tensor(loaded.score(prompts, responses)), torch.tensor(trained), atol=1e-5)


def test_the_command_line_gives_the_paragraph_not_a_traceback(tmp_path, t5_dir):
    command = [
        sys.executable,
        "-m",
        "rlhf_recipes.sft",
        "--config",
        str(QUICKSTART / "sft.yaml"),
        "--model_name_or_path",
        str(t5_dir),
        "--output_dir",
        str(tmp_path / "sft"),
    ]
    done = subprocess.run(
        command,
        env=os.environ | {"PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=REPO,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert f"error: model_name_or_path {str(t5_dir)!r} is a T5ForConditionalGeneration" in done.stderr
    assert not (tmp_path / "sft").exists()
