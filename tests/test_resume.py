"""A stage killed mid-way goes on from its newest checkpoint to the very run that was never stopped.

Each kill test starts the stage in a subprocess, kills it (SIGKILL) once its first checkpoint is
complete (early: most of the run is still to come, however fast the machine), resumes it here with `--resume_from_checkpoint true`, and compares the merged model with an
uninterrupted run of the same settings.
"""

import json
import signal
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bench.resume import start, stop_after_first_checkpoint
from rlhf_recipes import reward, sft
from rlhf_recipes.common import artifacts, checkpoints
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.methods import dpo, grpo, rloo
from tests.conftest import QUICKSTART, REPO, run_stage

STEPS = [
    "--max_steps",
    "64",
    "--save_steps",
    "4",
    "--save_total_limit",
    "2",
    "--logging_steps",
    "4",
    "--report_to",
    "none",
    "--disable_tqdm",
    "true",
]
GROUP_STEPS = [
    "--max_steps",
    "12",
    "--save_steps",
    "2",
    "--save_total_limit",
    "2",
    "--logging_steps",
    "2",
    "--report_to",
    "none",
    "--disable_tqdm",
    "true",
]
PPO_STEPS = [
    "--total_episodes",
    "256",
    "--per_device_train_batch_size",
    "16",
    "--local_rollout_forward_batch_size",
    "16",
    "--num_ppo_epochs",
    "2",
    "--response_length",
    "12",
    "--save_steps",
    "2",
    "--save_total_limit",
    "2",
    "--num_sample_generations",
    "4",
    "--report_to",
    "none",
    "--disable_tqdm",
    "true",
]


def assert_same_weights(merged_a: Path, merged_b: Path) -> None:
    a, b = load_file(merged_a / "model.safetensors"), load_file(merged_b / "model.safetensors")
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, (
        f"{len(different)} tensors differ, the first by {(a[different[0]] - b[different[0]]).abs().max()}"
    )


def kill_resume_and_compare(tmp_path, module, config: Path, args: list[str]):
    """Kill a subprocess run after its first checkpoint, resume it in this process, compare with a whole run."""
    killed, whole, log = tmp_path / "killed", tmp_path / "whole", tmp_path / "killed.log"
    process = start(
        [sys.executable, "-m", module.__name__, "--config", str(config), *args, "--output_dir", str(killed)], log
    )
    first = stop_after_first_checkpoint(process, killed, log)
    assert process.returncode == -signal.SIGKILL
    assert not (killed / artifacts.MERGED_DIR).exists()  # nothing half-merged
    resumed = run_stage(module, config, *args, "--output_dir", str(killed), "--resume_from_checkpoint", "true")
    uninterrupted = run_stage(module, config, *args, "--output_dir", str(whole))
    assert resumed.state.global_step == uninterrupted.state.global_step > checkpoints._step(first)
    assert_same_weights(killed / artifacts.MERGED_DIR, whole / artifacts.MERGED_DIR)
    return resumed, uninterrupted


@pytest.mark.slow
def test_sft_killed_after_a_checkpoint_resumes_to_the_uninterrupted_run(tmp_path, tiny_dir):
    resumed, uninterrupted = kill_resume_and_compare(
        tmp_path, sft, QUICKSTART / "sft.yaml", ["--model_name_or_path", tiny_dir, *STEPS]
    )
    logged = [e["loss"] for e in resumed.state.log_history if "loss" in e]
    assert logged == [e["loss"] for e in uninterrupted.state.log_history if "loss" in e] and len(logged) == 16


@pytest.mark.slow
@pytest.mark.parametrize("module", [reward, dpo], ids=["reward", "dpo"])
def test_preference_stages_killed_after_a_checkpoint_resume_to_the_uninterrupted_run(
    module, tmp_path, tiny_dir, rankings_file
):
    config = QUICKSTART / f"{module.STAGE.name}.yaml"
    kill_resume_and_compare(
        tmp_path, module, config, ["--model_name_or_path", tiny_dir, "--dataset_name", str(rankings_file), *STEPS]
    )


@pytest.mark.slow
@pytest.mark.parametrize("module", [rloo, grpo], ids=["rloo", "grpo"])
def test_group_stages_killed_after_a_checkpoint_resume_to_the_uninterrupted_run(
    module, tmp_path, tiny_dir, trained_reward, prompts_file
):
    config = QUICKSTART / f"{module.STAGE.name}.yaml"
    kill_resume_and_compare(
        tmp_path,
        module,
        config,
        [
            "--model_name_or_path",
            tiny_dir,
            "--reward_model_path",
            str(trained_reward[1]),
            "--dataset_name",
            str(prompts_file),
            *GROUP_STEPS,
        ],
    )


@pytest.mark.slow
def test_ppo_killed_after_a_checkpoint_resumes_bit_for_bit(tmp_path, tiny_dir, trained_reward, prompts_file):
    from rlhf_recipes.methods import ppo

    args = [
        "--sft_model_path",
        tiny_dir,
        "--reward_model_path",
        str(trained_reward[1]),
        "--dataset_name",
        str(prompts_file),
        *PPO_STEPS,
    ]
    resumed, uninterrupted = kill_resume_and_compare(tmp_path, ppo, QUICKSTART / "ppo.yaml", args)
    kl = [e["objective/kl"] for e in resumed.state.log_history if "objective/kl" in e]
    assert kl == [e["objective/kl"] for e in uninterrupted.state.log_history if "objective/kl" in e] and len(kl) == 16
    (checkpoint,) = checkpoints.complete_checkpoints(tmp_path / "killed")[-1:]
    saved = load_file(checkpoint / "model.safetensors")  # the adapter and the value model, which the Trainer resumes
    assert any("lora_B" in key for key in saved) and any(key.startswith("value_model.") for key in saved)
    assert {"optimizer.pt", "scheduler.pt", "rng_state.pth", checkpoints.STATE_FILE} <= {
        p.name for p in checkpoint.iterdir()
    }


@pytest.mark.slow
def test_ctrl_c_stops_a_pipeline_cleanly_and_running_it_again_resumes_the_stage(tmp_path, tiny_dir, caplog):
    from rlhf_recipes.pipeline import run_pipeline

    out, log = tmp_path / "out", tmp_path / "pipeline.log"
    sft_args = ["--max_steps", "400", "--save_steps", "8", "--logging_steps", "50", "--disable_tqdm", "true"]
    overrides = {"sft": sft_args, "reward": ["--dataset_name", str(tmp_path / "no-rankings.csv")]}
    code = (  # the pipeline as the CLI runs it: a stopped stage's message, exit code 130
        "import sys; from pathlib import Path; from rlhf_recipes.common import errors, logs; logs.setup()\n"
        "from rlhf_recipes.pipeline import run_pipeline\n"
        "try:\n"
        f"    run_pipeline(Path({str(QUICKSTART)!r}), Path({str(out)!r}), overrides={overrides!r})\n"
        "except errors.RecipeError as err:\n"
        "    print(f'error: {err}', file=sys.stderr); sys.exit(getattr(err, 'exit_code', 2))\n"
    )
    process = start([sys.executable, "-c", code], log)
    stop_after_first_checkpoint(process, out / "sft", log, sig=signal.SIGINT)
    printed = log.read_text()
    assert process.returncode == 130, printed[-3000:]
    assert "sft stopped by Ctrl-C at step" in printed and "run the same command again" in printed
    assert "Traceback" not in printed and not (out / "sft" / artifacts.MERGED_DIR).exists()

    with caplog.at_level("INFO"), pytest.raises(RecipeError, match="no-rankings.csv"):
        run_pipeline(QUICKSTART, out, overrides=overrides)  # SFT goes on and ends; the reward data is missing
    assert "sft: resuming from" in caplog.text and artifacts.is_complete(out / "sft")
    state = json.loads((out / "sft" / checkpoints.STATE_FILE).read_text())
    assert state["global_step"] == 400


def test_resume_from_checkpoint_true_takes_the_newest_complete_checkpoint(tmp_path, caplog):
    from transformers import TrainingArguments

    for step, complete in ((4, True), (8, True), (12, False)):
        (tmp_path / f"checkpoint-{step}").mkdir()
        if complete:
            (tmp_path / f"checkpoint-{step}" / checkpoints.STATE_FILE).write_text("{}")
    args = TrainingArguments(output_dir=str(tmp_path), resume_from_checkpoint="true", report_to="none")
    with caplog.at_level("WARNING"):
        assert checkpoints.resume_point(args) == str(tmp_path / "checkpoint-8")
    assert "checkpoint-12: no trainer_state.json, so it was cut short while saving" in caplog.text
    args.resume_from_checkpoint = str(tmp_path / "checkpoint-4")
    assert checkpoints.resume_point(args) == str(tmp_path / "checkpoint-4")
    for off in (None, "false", False):
        args.resume_from_checkpoint = off
        assert checkpoints.resume_point(args) is None


def test_a_missing_checkpoint_is_refused_before_anything_loads(tmp_path):
    from rlhf_recipes.common.parsing import parse

    with pytest.raises(RecipeError, match=f"true, but {tmp_path} holds no complete checkpoint"):
        parse(
            sft.make_parser(),
            [
                "--config",
                str(QUICKSTART / "sft.yaml"),
                "--output_dir",
                str(tmp_path),
                "--resume_from_checkpoint",
                "true",
            ],
        )
    with pytest.raises(RecipeError, match="'nowhere/checkpoint-3' is not a complete checkpoint"):
        parse(
            sft.make_parser(),
            ["--config", str(QUICKSTART / "sft.yaml"), "--resume_from_checkpoint", "nowhere/checkpoint-3"],
        )


def test_every_shipped_recipe_saves_checkpoints_to_resume_from():
    import yaml

    for path in sorted((REPO / "recipes").glob("*/*.yaml")):
        config = yaml.safe_load(path.read_text())
        if "output_dir" not in config or path.name == "report.yaml":
            continue
        assert config.get("save_strategy") == "steps", path
        assert config.get("save_total_limit") in (1, 2) and config.get("save_steps", 0) > 0, path
