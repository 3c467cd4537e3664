"""The DPO stage: a LoRA adapter on the SFT model, trained on the reward stage's own pairs."""

import json

import pytest
from transformers import AutoModelForCausalLM

from rlhf_recipes.common import artifacts
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.methods import dpo
from tests.conftest import QUICKSTART, assert_only_the_adapter_trained, run_stage


@pytest.fixture(scope="module")
def trained_dpo(tmp_path_factory, tiny_dir, rankings_file):
    output_dir = tmp_path_factory.mktemp("dpo") / "dpo"
    trainer = run_stage(
        dpo,
        QUICKSTART / "dpo.yaml",
        "--model_name_or_path",
        tiny_dir,
        "--dataset_name",
        str(rankings_file),
        "--output_dir",
        str(output_dir),
        "--max_steps",
        "12",
        "--per_device_train_batch_size",
        "8",
        "--logging_steps",
        "1",
        "--eval_strategy",
        "no",
    )
    return trainer, output_dir


@pytest.mark.quality
def test_the_reference_is_the_sft_model_so_the_first_margin_is_zero(trained_dpo):
    trainer, _ = trained_dpo
    logged = [e for e in trainer.state.log_history if "rewards/margins" in e]
    assert len(logged) == 12
    assert abs(logged[0]["rewards/chosen"]) < 1e-6 and abs(logged[0]["rewards/margins"]) < 1e-6  # log-ratio 0
    assert logged[-1]["rewards/margins"] > 0  # the chosen responses pulled ahead


def test_only_the_adapter_is_trained(trained_dpo, tiny_dir):
    assert_only_the_adapter_trained(trained_dpo[0].model, tiny_dir)


def test_it_reads_the_same_pairs_as_the_reward_stage_and_saves_a_merged_policy(trained_dpo, trained_reward):
    _, output_dir = trained_dpo
    ours = json.loads((output_dir / artifacts.EVAL_FILE).read_text())
    theirs = json.loads((trained_reward[1] / artifacts.EVAL_FILE).read_text())
    assert (ours["num_train_pairs"], ours["num_eval_pairs"]) == (theirs["num_train_pairs"], theirs["num_eval_pairs"])
    assert ours["num_train_pairs"] + ours["num_eval_pairs"] == 300 * 6 and ours["num_eval_pairs"] > 0  # 4-way: 6
    assert artifacts.is_complete(output_dir) and (output_dir / "dpo_training.png").exists()
    AutoModelForCausalLM.from_pretrained(output_dir / artifacts.MERGED_DIR)


def test_dpo_without_an_adapter_is_refused(tmp_path, tiny_dir, rankings_file):
    with pytest.raises(RecipeError, match="use_peft: false is not supported by this recipe; it trains a LoRA"):
        run_stage(
            dpo,
            QUICKSTART / "dpo.yaml",
            "--model_name_or_path",
            tiny_dir,
            "--use_peft",
            "false",
            "--dataset_name",
            str(rankings_file),
            "--output_dir",
            str(tmp_path / "dpo"),
        )
