import contextlib
import io
import json

import pytest
import yaml

from rlhf_recipes import cli, methods, sft
from rlhf_recipes.common import artifacts
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.parsing import under_folder
from rlhf_recipes.common.stages import SFT, Stage
from rlhf_recipes.evaluation import plots
from rlhf_recipes.pipeline import FIRST_STAGES, run_pipeline
from rlhf_recipes.quickstart import task
from tests.conftest import QUICKSTART, write_jsonl

SMALL = {
    "sft": {"num_train_epochs": 1},
    "reward": {"num_train_epochs": 1, "eval_steps": 20},
    "ppo": {
        "total_episodes": 64,
        "per_device_train_batch_size": 16,
        "local_rollout_forward_batch_size": 16,
        "num_ppo_epochs": 2,
        "num_sample_generations": 0,
        "report_to": "none",
    },
    "rloo": {"max_steps": 3, "per_device_train_batch_size": 16},
    "grpo": {"max_steps": 3, "per_device_train_batch_size": 16},
    "dpo": {"max_steps": 6, "per_device_train_batch_size": 8},
    "report": {"samples_per_prompt": 1},
}
ALL_METHODS = tuple(methods.available())


@pytest.fixture(scope="module")
def small_recipes(tmp_path_factory, rankings_file):
    """The quickstart recipes, shrunk to seconds: 400 demonstrations, 300 rankings, 64 PPO episodes, a few steps of
    RLOO, GRPO and DPO."""
    tmp_path = tmp_path_factory.mktemp("pipeline")
    folder = tmp_path / "recipes"
    folder.mkdir()
    train, held_out = task.split_prompts()
    data = {
        "sft": write_jsonl(tmp_path / "sft.jsonl", task.sft_rows(train, 400, seed=5)),
        "reward": rankings_file,
        **dict.fromkeys(
            ("ppo", "rloo", "grpo"), write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": p} for p in train])
        ),
        "dpo": rankings_file,
        "report": write_jsonl(tmp_path / "held_out.jsonl", [{"prompt": p} for p in held_out[:16]]),
    }
    for stage in (*FIRST_STAGES, *ALL_METHODS, "report"):
        config = yaml.safe_load((QUICKSTART / f"{stage}.yaml").read_text()) | SMALL[stage]
        config = {key: under_folder(value, QUICKSTART) for key, value in config.items()}  # its data stays there
        config["prompts" if stage == "report" else "dataset_name"] = str(data[stage])
        (folder / f"{stage}.yaml").write_text(yaml.safe_dump(config))
    return folder


@pytest.fixture(scope="module")
def finished(small_recipes):
    output_dir = small_recipes.parent / "out"
    console = io.StringIO()
    with contextlib.redirect_stdout(console), contextlib.redirect_stderr(console):
        report = run_pipeline(small_recipes, output_dir, methods=ALL_METHODS)
    (output_dir / "console.txt").write_text(console.getvalue())
    return report, output_dir


def test_the_console_shows_a_line_a_bar_and_a_result_per_stage_and_the_log_has_the_rest(finished):
    _, out = finished
    lines = [line.split("\r")[-1] for line in (out / "console.txt").read_text().splitlines()]
    stages = ("sft", "reward", *ALL_METHODS)
    for stage in stages:
        assert any(line.startswith(f"{stage}: ") and f"logs/{stage}.log" in line for line in lines), stage
        (result,) = [line for line in lines if line.startswith(f"{stage}: done in ")]
        assert any(word in result for word in ("loss", "accuracy", "reward")), result
    assert len(lines) <= 60, "\n".join(lines)  # per stage: a line, a bar (redrawn every 30 s off a terminal), a result
    assert "{'loss'" not in "\n".join(lines) and "Warning" not in "\n".join(lines)
    assert "'objective/kl'" in (out / "logs" / "ppo.log").read_text()  # the metrics the bar no longer prints
    assert "'loss'" in (out / "logs" / "sft.log").read_text()


def test_pipeline_runs_every_stage_and_writes_the_report(finished):
    report, out = finished
    for stage in ("sft", "reward", *ALL_METHODS):
        assert artifacts.is_complete(out / stage)
    saved = json.loads((out / "report" / "report.json").read_text())
    figures = saved["policy_vs_reference"]
    assert figures["num_prompts"] == 16
    for key in (
        "reward_mean_policy",
        "reward_mean_reference",
        "kl_mean",
        "length_mean_policy",
        "length_mean_reference",
        "gold_mean_policy",
        "gold_mean_reference",
        "repetition_rate_policy",
    ):
        assert isinstance(figures[key], float), key
    for key in ("win_rate_reward_model", "gold_win_rate"):
        assert 0.0 <= figures[key] <= 1.0
    # A Monte-Carlo estimate from the policy's own samples: near zero (either sign) after 64 episodes.
    assert abs(figures["kl_mean"]) < 1.0
    assert 0.0 <= saved["reward_model"]["eval_accuracy"] <= 1.0
    stages = ("sft", "reward", *ALL_METHODS)
    assert set(saved["timings"]) == {f"{s}_s" for s in (*stages, "report", "total")} | {f"{s}_peak_mb" for s in stages}
    assert saved["timings"]["total_s"] == pytest.approx(
        sum(saved["timings"][f"{s}_s"] for s in (*stages, "report")), abs=0.2
    )
    for name in (
        "report.md",
        "reward_distributions.png",
        "win_rate_vs_kl.png",
        *(f"{m}_training.png" for m in ALL_METHODS),
    ):
        assert (out / "report" / name).stat().st_size > 500, name
    assert report["policy_vs_reference"] == figures == saved["methods"][ALL_METHODS[0]]


def test_the_report_has_a_row_per_method_with_the_same_keys(finished):
    report, out = finished
    methods = report["methods"]
    assert list(methods) == list(ALL_METHODS)
    for name, figures in methods.items():
        assert figures.keys() == report["policy_vs_reference"].keys(), name
        assert figures["policy"] == str(out / name / artifacts.MERGED_DIR)
        assert figures["stage_s"] == report["timings"][f"{name}_s"] and figures["peak_memory_mb"] > 0
        assert isinstance(figures["hacking_indicators"]["suspected"], bool)
    table = (out / "report" / "report.md").read_text().split("## Samples")[0]
    assert all(f"| {name} | " in table for name in ALL_METHODS)


def test_finished_stages_are_skipped_and_a_failed_stage_resumes(small_recipes, tmp_path, capsys):
    import shutil

    small_recipes = shutil.copytree(small_recipes, tmp_path / "recipes")
    (method,) = methods.DEFAULT  # PPO, or RLOO on a TRL without PPOTrainer
    method_yaml = small_recipes / f"{method}.yaml"
    good = method_yaml.read_text()
    method_yaml.write_text(good + "reward_classifier_label: no-such-label\n")
    with pytest.raises(RecipeError, match="no-such-label"):
        run_pipeline(small_recipes, tmp_path / "out")
    sft_weights = (tmp_path / "out" / "sft" / artifacts.MERGED_DIR / "model.safetensors").read_bytes()
    assert artifacts.is_complete(tmp_path / "out" / "reward") and not artifacts.is_complete(tmp_path / "out" / method)

    method_yaml.write_text(good)
    capsys.readouterr()
    run_pipeline(small_recipes, tmp_path / "out")
    printed = capsys.readouterr().out
    assert "sft: complete" in printed and "reward: complete" in printed and f"{method}: done in" in printed
    assert "sft: done in" not in printed
    assert (tmp_path / "out" / "sft" / artifacts.MERGED_DIR / "model.safetensors").read_bytes() == sft_weights

    run_pipeline(small_recipes, tmp_path / "out", force=True)
    printed = capsys.readouterr().out
    assert "sft: done in" in printed and "sft: complete" not in printed


def test_compare_command_writes_a_report(finished, small_recipes, tmp_path, capsys):
    _, out = finished
    cli.main(
        [
            "compare",
            "--policy",
            str(out / "ppo"),
            str(out / "dpo" / artifacts.MERGED_DIR),
            "--reference",
            str(out / "sft"),
            "--reward-model",
            str(out / "reward"),
            "--prompts",
            str(small_recipes.parent / "held_out.jsonl"),
            "--output_dir",
            str(tmp_path / "cmp"),
            "--samples_per_prompt",
            "1",
            "--judge",
            "auto",
            f"reward:{out / 'reward'}",
        ]
    )
    printed = capsys.readouterr().out
    assert "SFT vs RLHF on 16 held-out prompts" in printed
    assert "SFT       ppo       dpo" in printed
    saved = json.loads((tmp_path / "cmp" / "report.json").read_text())
    assert list(saved["methods"]) == ["ppo", "dpo"] and [j["name"] for j in saved["judges"]] == ["gold", "judge"]
    assert "judge: agrees with gold" in printed and 0.0 <= saved["methods"]["dpo"]["judge_agreement"] <= 1.0


def test_a_folder_without_the_stage_yamls_is_refused(tmp_path):
    with pytest.raises(RecipeError, match=f"no sft.yaml, reward.yaml, {methods.DEFAULT[0]}.yaml, report.yaml"):
        run_pipeline(tmp_path)  # PPO's, or RLOO's on a TRL without PPOTrainer
    with pytest.raises(RecipeError, match="no sft.yaml, reward.yaml, rloo.yaml, report.yaml"):
        run_pipeline(tmp_path, methods=("rloo",))
    with pytest.raises(RecipeError, match="methods: a2c; choose one or more of ppo, rloo, grpo, dpo"):
        run_pipeline(tmp_path, methods=("ppo", "a2c"))


def _more_sft(*args):
    """A method of one module: more supervised fine-tuning, from the SFT stage's model."""
    trainer = sft.main(*args)
    plots.plot_stage(MORE_SFT, trainer.state.log_history, trainer.args.output_dir)
    return trainer


MORE_SFT = Stage(
    "more_sft",
    "more supervised fine-tuning from the SFT model",
    sft.make_parser,
    _more_sft,
    reads={SFT: "--model_name_or_path"},
    curves={"loss": "SFT loss"},
)


def test_a_new_method_is_one_module_and_its_yaml(finished, small_recipes, tmp_path, capsys):
    import shutil

    methods.register(MORE_SFT)
    try:
        with pytest.raises(SystemExit):
            cli.main(["pipeline", "--help"])
        assert "more_sft: more supervised fine-tuning from the SFT model" in " ".join(capsys.readouterr().out.split())
        recipes = shutil.copytree(small_recipes, tmp_path / "recipes")
        config = yaml.safe_load((recipes / "sft.yaml").read_text()) | {"max_steps": 3, "logging_steps": 1}
        (recipes / "more_sft.yaml").write_text(yaml.safe_dump(config))
        _, out = finished
        for stage in FIRST_STAGES:  # the SFT and reward stages are done: only the new method runs
            shutil.copytree(out / stage, tmp_path / "out" / stage)
        report = run_pipeline(recipes, tmp_path / "out", methods=("more_sft",))
    finally:
        methods._registered.pop(MORE_SFT.name)
    assert list(report["methods"]) == ["more_sft"] and 0.0 <= report["methods"]["more_sft"]["gold_win_rate"] <= 1.0
    assert "| more_sft | " in (tmp_path / "out" / "report" / "report.md").read_text()
    assert (tmp_path / "out" / "report" / "more_sft_training.png").stat().st_size > 500
