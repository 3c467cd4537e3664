"""The quickstart as a user runs it: the real recipes, the built-in model and task, every stage."""

import pytest

from rlhf_recipes.pipeline import run_pipeline
from tests.conftest import QUICKSTART


@pytest.mark.slow
def test_quickstart_pipeline_improves_on_sft_as_the_gold_labeler_judges(tmp_path):
    report = run_pipeline(QUICKSTART, tmp_path / "quickstart")
    figures = report["policy_vs_reference"]
    assert report["reward_model"]["eval_accuracy"] >= 0.9
    assert figures["num_prompts"] >= 64
    assert figures["well_formed_reference"] >= 0.9  # the SFT model learned the format
    assert figures["gold_mean_policy"] > figures["gold_mean_reference"]  # RLHF helped the "human"...
    assert figures["gold_win_rate"] > 0.5
    assert figures["win_rate_reward_model"] > 0.5  # ...and the reward model agrees in direction
    assert figures["kl_mean"] > 0
    assert report["timings"]["total_s"] < 600
    assert list((tmp_path / "quickstart" / "ppo").rglob("events.out.tfevents.*"))  # TensorBoard, offline
