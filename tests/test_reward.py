import json

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from rlhf_recipes import cli, reward
from rlhf_recipes.common import artifacts, reward_model
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.prompts import PromptFormat
from tests.conftest import QUICKSTART, run_stage


@pytest.mark.quality
def test_loss_falls_and_held_out_accuracy_is_recorded(trained_reward):
    trainer, output_dir = trained_reward
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    assert losses[-1] < losses[0]
    results = json.loads((output_dir / artifacts.EVAL_FILE).read_text())
    assert results["num_eval_pairs"] > 0 and results["eval_accuracy"] > 0.6
    assert (output_dir / "reward_training.png").stat().st_size > 1000


def test_reward_statistics_travel_with_the_merged_model_and_standardize_its_score(trained_reward):
    _, output_dir = trained_reward
    config = json.loads((output_dir / artifacts.MERGED_DIR / "config.json").read_text())
    results = json.loads((output_dir / artifacts.EVAL_FILE).read_text())
    assert config["reward_std"] > 0 and config["reward_mean"] == pytest.approx(results["reward_mean"])
    model = AutoModelForSequenceClassification.from_pretrained(output_dir / artifacts.MERGED_DIR)
    hidden = torch.randn(3, model.config.hidden_size)
    raw = model.score(hidden)
    reward_model.standardize(model, str(output_dir))
    assert torch.allclose(model.score(hidden), (raw - config["reward_mean"]) / config["reward_std"])


def test_lora_and_score_head_change_while_base_weights_do_not(trained_reward, tiny_dir):
    trainer, _ = trained_reward
    base = load_file(f"{tiny_dir}/model.safetensors")
    state = {k: v.detach() for k, v in trainer.model.state_dict().items()}
    lora_b = [v for k, v in state.items() if "lora_B" in k]
    assert lora_b and all(v.abs().sum() > 0 for v in lora_b)
    score = [v for k, v in state.items() if "score" in k and "modules_to_save" in k]
    original_score = [v for k, v in state.items() if "score" in k and "original_module" in k]
    assert score and original_score and not torch.equal(score[0], original_score[0])
    frozen = {
        k.replace("base_model.model.", "").replace(".base_layer", ""): v
        for k, v in state.items()
        if "lora_" not in k and "score" not in k
    }
    backbone = [k for k in base if k != "lm_head.weight"]  # a sequence classifier has no LM head
    assert backbone and set(backbone) <= set(frozen)
    assert all(torch.equal(base[k], frozen[k]) for k in backbone)


def test_merged_model_scores_exactly_like_base_plus_adapter(trained_reward, tiny_dir):
    _, output_dir = trained_reward
    merged = AutoModelForSequenceClassification.from_pretrained(output_dir / artifacts.MERGED_DIR).eval()
    base = AutoModelForSequenceClassification.from_pretrained(tiny_dir, num_labels=1)
    adapted = PeftModel.from_pretrained(base, output_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(output_dir / artifacts.MERGED_DIR)
    prompts = ["Describe the pizza."] * 2
    responses = ["The pizza was great and lovely.", "The pizza was awful."]
    assert reward_model.scores(merged, tokenizer, PromptFormat(chat=True), prompts, responses) == pytest.approx(
        reward_model.scores(adapted, tokenizer, PromptFormat(chat=True), prompts, responses), abs=1e-5
    )


def test_lora_task_type_causal_lm_is_refused(tmp_path, tiny_dir, rankings_file):
    with pytest.raises(RecipeError, match="lora_task_type: a reward model needs SEQ_CLS"):
        run_stage(
            reward,
            QUICKSTART / "reward.yaml",
            "--model_name_or_path",
            tiny_dir,
            "--lora_task_type",
            "CAUSAL_LM",
            "--dataset_name",
            str(rankings_file),
            "--output_dir",
            str(tmp_path / "r"),
        )
    assert not (tmp_path / "r").exists()


def test_score_tool_prints_the_models_scores_best_first(trained_reward, capsys):
    """The tool's ranking is the reward model's own, whatever that model has learnt."""
    _, output_dir = trained_reward
    responses = [
        "The pizza was dull and awful.",
        "The pizza was great and lovely.",
        "The pizza was okay.",
        "The pizza was.",
    ]
    cli.main(
        ["score", str(output_dir), "--prompt", "Describe the pizza."]
        + [arg for response in responses for arg in ("--response", response)]
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:2] == ["reward", "response"]
    model = reward_model.RewardModel(str(output_dir / artifacts.MERGED_DIR))
    scores = model.score(["Describe the pizza."] * len(responses), responses)
    expected = sorted(zip(scores, responses), reverse=True)
    assert [line.split(maxsplit=1)[1].split("  ")[0].strip() for line in lines[1:]] == [r for _, r in expected]
    assert [float(line.split()[0]) for line in lines[1:]] == pytest.approx([s for s, _ in expected], abs=1e-3)


@pytest.mark.quality
def test_a_one_epoch_reward_model_prefers_upbeat_reviews(trained_reward):
    """Over every topic, not one pair: a base LM that knows the moods makes this hold on any processor."""
    from rlhf_recipes.quickstart import task

    _, output_dir = trained_reward
    model = reward_model.RewardModel(str(output_dir / artifacts.MERGED_DIR))
    prompts = [f"Describe the {topic}." for topic in task.TOPICS]
    good = model.score(prompts, [f"The {t} was great and lovely." for t in task.TOPICS])
    bad = model.score(prompts, [f"The {t} was dull and awful." for t in task.TOPICS])
    assert sum(g > b for g, b in zip(good, bad)) >= 0.8 * len(task.TOPICS)


def test_score_tool_refuses_a_causal_lm(tiny_dir, capsys):
    with pytest.raises(SystemExit):
        cli.main(["score", tiny_dir, "--prompt", "Describe the pizza.", "--response", "The pizza was great."])
    assert "is not a reward model" in capsys.readouterr().err
