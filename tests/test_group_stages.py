"""The RLOO and GRPO stages: a LoRA adapter on the SFT model, a group of sampled responses per prompt, the
reward stage's model (or a classifier's label) as the reward function."""

import pytest
from transformers import AutoModelForCausalLM

from rlhf_recipes.common import artifacts
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.evaluation import sampling
from rlhf_recipes.methods import grpo, rloo
from rlhf_recipes.quickstart import task
from tests.conftest import QUICKSTART, assert_only_the_adapter_trained, run_stage

STAGES = {"rloo": rloo, "grpo": grpo}
SMALL = [
    "--max_steps",
    "4",
    "--per_device_train_batch_size",
    "16",
    "--num_generations",
    "4",
    "--max_completion_length",
    "12",
    "--logging_steps",
    "1",
    "--report_to",
    "none",
]


def run_group(stage: str, output_dir, policy, reward_dir, prompts, *overrides):
    return run_stage(
        STAGES[stage],
        QUICKSTART / f"{stage}.yaml",
        "--model_name_or_path",
        str(policy),
        "--reward_model_path",
        str(reward_dir),
        "--dataset_name",
        str(prompts),
        "--output_dir",
        str(output_dir),
        *SMALL,
        *overrides,
    )


@pytest.fixture(scope="module", params=list(STAGES))
def trained(request, tmp_path_factory, tiny_dir, trained_reward, prompts_file):
    output_dir = tmp_path_factory.mktemp(request.param) / request.param
    return request.param, run_group(request.param, output_dir, tiny_dir, trained_reward[1], prompts_file), output_dir


def test_only_the_adapter_is_trained(trained, tiny_dir):
    assert_only_the_adapter_trained(trained[1].model, tiny_dir)


def test_the_reference_is_the_sft_model_so_kl_starts_at_zero(trained):
    _, trainer, _ = trained
    kl = [e["kl"] for e in trainer.state.log_history if "kl" in e]
    assert len(kl) == 4 and abs(kl[0]) < 1e-6  # before the first update the policy is the reference
    rewards = [e["rewards/reward_model/mean"] for e in trainer.state.log_history if "rewards/reward_model/mean" in e]
    assert len(rewards) == 4 and abs(sum(rewards) / 4) < 3  # standardized: about the reward data's mean 0, std 1


def test_the_merged_policy_loads_and_keeps_its_sampling_settings(trained):
    stage, _, output_dir = trained
    assert (output_dir / artifacts.ADAPTER_CONFIG).exists() and artifacts.is_complete(output_dir)
    assert (output_dir / f"{stage}_training.png").stat().st_size > 500
    AutoModelForCausalLM.from_pretrained(output_dir / artifacts.MERGED_DIR)
    assert sampling.settings([str(output_dir / artifacts.MERGED_DIR)], None, None) == {
        "max_new_tokens": 12,
        "temperature": 0.5,
    }


@pytest.mark.parametrize("stage", list(STAGES))
def test_a_classifier_label_can_be_the_reward(stage, tmp_path, tiny_dir, emotion_classifier, prompts_file):
    trainer = run_group(
        stage,
        tmp_path / stage,
        tiny_dir,
        emotion_classifier,
        prompts_file,
        "--max_steps",
        "2",
        "--reward_classifier_label",
        "joy",
    )
    scores = [e["rewards/classifier_joy/mean"] for e in trainer.state.log_history if "rewards/classifier_joy/mean" in e]
    assert len(scores) == 2 and all(0.0 <= s <= 1.0 for s in scores)  # probabilities of "joy"


@pytest.mark.parametrize("stage", list(STAGES))
def test_bad_input_is_refused_before_training(stage, tmp_path, tiny_dir, trained_reward, prompts_file):
    with pytest.raises(RecipeError, match="is not a reward model"):  # a causal LM as the reward model
        run_group(stage, tmp_path / "a", tiny_dir, tiny_dir, prompts_file)
    few = tmp_path / "few.csv"
    few.write_text("Prompt\n" + "\n".join(task.split_prompts()[0][:3]) + "\n")
    with pytest.raises(RecipeError, match=r"3 prompts, fewer than one generation batch .* = 4\)"):
        run_group(stage, tmp_path / "b", tiny_dir, trained_reward[1], few)
    with pytest.raises(RecipeError, match="every prompt is longer than max_prompt_length=2 tokens"):
        run_group(stage, tmp_path / "c", tiny_dir, trained_reward[1], prompts_file, "--max_prompt_length", "2")
    with pytest.raises(RecipeError, match="use_peft: false is not supported by this recipe; it trains a LoRA"):
        run_group(stage, tmp_path / "d", tiny_dir, trained_reward[1], prompts_file, "--use_peft", "false")
    assert not any((tmp_path / name).exists() for name in "abcd")
