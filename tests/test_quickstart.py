"""The quickstart as a user runs it: the package built as a wheel and installed apart from this checkout,
`rlhf-recipes quickstart` in an empty folder, the real recipes, the built-in model and task, every stage.

The bars sit below the worst run of the quality sweep over seeds and CPU kernels (`python -m
bench.quality --cpu-capabilities default avx2`, bench/QUALITY.md: accuracy 1.00, gold win >= 74.8%,
gold mean up by >= 0.29, RM win >= 82%, KL 0.77-0.98; each method's worst run in the four-method
sweep), with a margin; no single run's figures are asserted. CI runs them under two kinds of kernels.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rlhf_recipes.labeling import sheet as sheets
from rlhf_recipes.pipeline import run_pipeline
from rlhf_recipes.rounds import run_rounds
from tests.conftest import QUICKSTART, REPO

SEED = 1  # not the recipes' own 42: the result must not depend on one seed
METHODS = ("ppo", "rloo", "grpo", "dpo")
GOLD_WIN_BARS = {"ppo": 0.65, "rloo": 0.6, "grpo": 0.6, "dpo": 0.65}  # 5-9 points below each method's worst sweep run
# Round 2 against round 1, below the worst run of the rounds sweep (bench/QUALITY.md, "Iterated RLHF") with a margin.
ROUND_BARS = {"gold_win": 0.78, "win_vs_previous": 0.55, "probe_gain": 0.0}
HACKING = REPO / "recipes" / "quickstart-reward-hacking"
pytestmark = pytest.mark.quality


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    """The report and output folder of `rlhf-recipes quickstart --seed 1 --methods ...` run from a wheel of this
    checkout (installed on its own path, with this interpreter's dependencies) in an empty folder."""
    tmp = tmp_path_factory.mktemp("quickstart")
    wheels, site, empty = tmp / "wheels", tmp / "site", tmp / "empty"
    pip = [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(REPO)], check=True, timeout=600)
    (wheel,) = wheels.glob("rlhf_recipes-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, timeout=600)
    empty.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"} | {"PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import rlhf_recipes; print(rlhf_recipes.__file__)"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(site), where  # the wheel's package, not the checkout's
    done = subprocess.run(
        [str(site / "bin" / "rlhf-recipes"), "quickstart", "--seed", str(SEED), "--methods", *METHODS],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    output_dir = empty / "outputs" / "quickstart"
    (tmp / "console.txt").write_text(done.stdout + done.stderr)
    return json.loads((output_dir / "report" / "report.json").read_text()), output_dir


@pytest.mark.slow
def test_the_console_shows_a_line_a_bar_and_a_result_per_stage_with_the_full_logs_on_disk(quickstart):
    _, output_dir = quickstart
    console = (output_dir.parents[2] / "console.txt").read_text()
    lines = [line.split("\r")[-1] for line in console.splitlines()]
    assert len(lines) <= 60 and len(console.encode()) <= 10_000, console
    assert "Warning" not in console and "{'loss'" not in console
    for stage in ("sft", "reward", *METHODS):
        (result,) = [line for line in lines if line.startswith(f"{stage}: done in ")]
        assert any(figure in result for figure in ("loss", "accuracy", "reward")), result
        assert (output_dir / "logs" / f"{stage}.log").stat().st_size > 0, stage
    assert "'objective/kl'" in (output_dir / "logs" / "ppo.log").read_text()
    assert "gold" in console and "report/report.md" in console  # the summary table, and where the report is


@pytest.mark.slow
def test_quickstart_pipeline_improves_on_sft_as_the_gold_labeler_judges(quickstart):
    report, output_dir = quickstart
    figures = report["policy_vs_reference"]
    assert report["reward_model"]["eval_accuracy"] >= 0.95
    assert figures["num_prompts"] >= 64
    assert figures["gold_well_formed_reference"] >= 0.9  # the SFT model learned the format
    assert figures["gold_mean_policy"] > figures["gold_mean_reference"] + 0.2  # RLHF helped the "human"...
    assert figures["gold_win_rate"] >= 0.68
    assert figures["win_rate_reward_model"] >= 0.7  # ...and the reward model agrees in direction
    assert not figures["reward_hacking"]
    assert 0 < figures["kl_mean"] < 5
    assert all(report["timings"][f"{stage}_s"] > 0 for stage in ("sft", "reward", *METHODS))  # bench/ times them
    assert list((output_dir / "ppo").rglob("events.out.tfevents.*"))  # TensorBoard, offline
    for stage in ("sft", "reward", *METHODS):  # the seed reached every stage
        assert torch.load(output_dir / stage / "training_args.bin", weights_only=False).seed == SEED


@pytest.mark.slow
def test_every_method_improves_on_sft_from_the_same_stages(quickstart):
    report, _ = quickstart
    assert list(report["methods"]) == list(METHODS)
    for name, figures in report["methods"].items():
        assert figures["gold_win_rate"] >= GOLD_WIN_BARS[name], name
        assert figures["gold_mean_policy"] > figures["gold_mean_reference"], name
        assert 0 < figures["kl_mean"] < 5, name
        assert not figures["reward_hacking"] and not figures["hacking_indicators"]["suspected"], name


@pytest.mark.slow
def test_responses_repeating_a_word_are_those_the_gold_labeler_calls_repetitive(quickstart):
    """The report's repeated-word share, on real samples, against the gold labeler's verdicts on the same samples:
    it counts every "repetition" verdict, and beyond them only responses the gold labeler rejected for another flaw."""
    report, _ = quickstart
    for name, f in report["methods"].items():
        n = f["num_prompts"] * f["samples_per_prompt"]
        for side in ("policy", "reference"):
            flagged = round(f[f"repeated_word_rate_{side}"] * n)
            verdicts = f[f"gold_verdicts_{side}"]
            malformed = n - verdicts.get("ok", 0)
            assert verdicts.get("repetition", 0) <= flagged <= malformed, (name, side, flagged, verdicts)
        assert f["repeated_word_rate_policy"] > 0 and f["repetition_rate_policy"] < f["repeated_word_rate_policy"]


@pytest.mark.slow
def test_reward_hacking_recipe_is_flagged(quickstart, tmp_path):
    """PPO and GRPO without their KL to SFT, from the same SFT and reward stages: reward up, gold down, flagged."""
    _, quickstart_dir = quickstart
    for stage in ("sft", "reward"):  # complete stages are reused, as the recipe's shared YAMLs intend
        (tmp_path / stage).symlink_to(quickstart_dir / stage)
    report = run_pipeline(HACKING, tmp_path, seed=SEED, methods=("ppo", "grpo"))
    text = (tmp_path / "report" / "report.md").read_text()
    for name, figures in report["methods"].items():
        assert figures["reward_hacking"], name
        assert figures["win_rate_reward_model"] > 0.6
        assert figures["gold_win_rate"] < 0.4
        assert figures["gold_mean_policy"] < figures["gold_mean_reference"]
        assert figures["hacking_indicators"]["suspected"]  # the indicators that need no gold labeler agree
        assert f"**Reward hacking ({name}):**" in text and f"**Suspected reward hacking ({name}):**" in text


@pytest.mark.slow
def test_a_second_round_on_the_policys_own_samples_beats_the_first(quickstart):
    """Iterated RLHF from the same first round: rankings of PPO's own samples teach the new reward model the repeated
    word it was blind to, and PPO against it beats round 1 (bars below the worst run of the rounds sweep)."""
    _, output_dir = quickstart
    result = run_rounds(QUICKSTART, output_dir, 2, seed=SEED, methods=("ppo",))
    second = result["rounds"][2]
    assert second["probe_accuracy"] >= second["probe_accuracy_previous_reward_model"] + ROUND_BARS["probe_gain"]
    assert second["gold_win_vs_sft"] >= ROUND_BARS["gold_win"]
    assert second["gold_win_vs_previous"] > ROUND_BARS["win_vs_previous"]
    sheet = sheets.load(output_dir / "round2" / "sheet.jsonl")
    assert len(sheet.rows) >= 4000 and sheet.rankings_path.exists()
    assert "| 2 |" in (output_dir / "rounds.md").read_text()
    trained = [output_dir / "round2" / stage / "merged" / "model.safetensors" for stage in ("reward", "ppo")]
    stamps = [path.stat().st_mtime for path in (sheet.path, sheet.answers_path, *trained)]
    again = run_rounds(QUICKSTART, output_dir, 2, seed=SEED, methods=("ppo",))  # a rerun reuses the finished round
    assert [path.stat().st_mtime for path in (sheet.path, sheet.answers_path, *trained)] == stamps
    assert again["rounds"][2]["probe_accuracy"] == second["probe_accuracy"]
