"""Real 2-process DDP launches (gloo, on CPU) of every stage through the project's multi_gpu.yaml."""

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from rlhf_recipes.common import artifacts, checkpoints, ptx
from rlhf_recipes.quickstart import task
from tests.conftest import QUICKSTART, accelerate_launch, write_jsonl

pytestmark = pytest.mark.slow
PLAIN_TEXT = QUICKSTART / "data" / "plain_train.jsonl"


def launch(stage: str, *args: str) -> str:
    """The stage as 2 CPU processes (gloo) through the project's multi_gpu.yaml; its log."""
    return accelerate_launch("multi_gpu", stage, *args, env={"ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"})


def assert_same_as_one_process_merge(output_dir, base, model_class, tmp_path, **load):
    tokenizer = AutoTokenizer.from_pretrained(output_dir / artifacts.MERGED_DIR)
    again = artifacts.merge_adapter(str(base), output_dir, tmp_path / "again", tokenizer, model_class, **load)
    ours, theirs = (
        load_file(output_dir / artifacts.MERGED_DIR / "model.safetensors"),
        load_file(again / "model.safetensors"),
    )
    assert ours and ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory, tiny_dir):
    tmp = tmp_path_factory.mktemp("ddp")
    data = write_jsonl(tmp / "sft.jsonl", task.sft_rows(task.split_prompts()[0], 480, seed=11))
    log = launch(
        "sft",
        "--model_name_or_path",
        tiny_dir,
        "--dataset_name",
        str(data),
        "--output_dir",
        str(tmp / "sft"),
        "--num_train_epochs",
        "1",
    )
    return log, tmp


def test_sft_runs_on_two_processes_and_writes_one_complete_output(sft_run, tiny_dir, tmp_path):
    log, tmp = sft_run
    assert "2 process(es)" in log
    assert log.count("SFT done") == 1  # logged by the main process only
    AutoModelForCausalLM.from_pretrained(tmp / "sft" / artifacts.MERGED_DIR)
    assert_same_as_one_process_merge(tmp / "sft", tiny_dir, AutoModelForCausalLM, tmp_path)


@pytest.fixture(scope="module")
def reward_run(sft_run, rankings_file):
    _, tmp = sft_run
    log = launch(
        "reward",
        "--model_name_or_path",
        str(tmp / "sft"),
        "--dataset_name",
        str(rankings_file),
        "--output_dir",
        str(tmp / "reward"),
        "--num_train_epochs",
        "1",
        "--eval_steps",
        "20",
    )
    return log, tmp


def test_reward_runs_on_two_processes_with_one_split(reward_run, tmp_path):
    log, tmp = reward_run
    assert "2 process(es)" in log and log.count("REWARD done") == 1
    assert log.count("training pairs") == 1
    model = AutoModelForSequenceClassification.from_pretrained(tmp / "reward" / artifacts.MERGED_DIR)
    assert model.config.num_labels == 1 and (tmp / "reward" / "eval_results.json").exists()
    tokenizer = AutoTokenizer.from_pretrained(tmp / "sft" / artifacts.MERGED_DIR)
    assert_same_as_one_process_merge(
        tmp / "reward",
        tmp / "sft" / artifacts.MERGED_DIR,
        AutoModelForSequenceClassification,
        tmp_path,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
    )


def test_ppo_runs_and_resumes_on_two_processes(reward_run, tmp_path):
    import json
    import shutil

    _, tmp = reward_run
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": p} for p in task.split_prompts()[0]])
    ppo_args = [
        "--total_episodes",
        "256",
        "--per_device_train_batch_size",
        "16",
        "--local_rollout_forward_batch_size",
        "16",
        "--num_sample_generations",
        "0",
        "--save_steps",
        "2",
        "--save_total_limit",
        "2",
        "--report_to",
        "none",
        "--ptx_coef",
        "0.5",
        "--ptx_dataset",
        str(PLAIN_TEXT),
    ]
    log = launch(
        "ppo",
        "--sft_model_path",
        str(tmp / "sft"),
        "--reward_model_path",
        str(tmp / "reward"),
        "--dataset_name",
        str(prompts),
        "--output_dir",
        str(tmp / "ppo"),
        *ppo_args,
    )
    assert "2 process(es)" in log and log.count("PPO done") == 1
    history = json.loads((tmp / "ppo" / checkpoints.STATE_FILE).read_text())["log_history"]
    updates = [e for e in history if "objective/kl" in e]
    assert len(updates) == 8  # 256 episodes / (16 per process x 2 processes): two passes over the prompts
    assert abs(updates[0]["objective/kl"]) < 1e-3  # the reference is the SFT model on every rank
    assert all(ptx.LOSS_KEY in u for u in updates)  # PPO-ptx on, each process with its own share of the text
    AutoModelForCausalLM.from_pretrained(tmp / "ppo" / artifacts.MERGED_DIR)
    assert_same_as_one_process_merge(tmp / "ppo", tmp / "sft" / artifacts.MERGED_DIR, AutoModelForCausalLM, tmp_path)

    # From its checkpoint after update 6 (in the second pass; 4 optimizer steps an update), on 2 processes again:
    # the same run, to the bit (the ptx text goes on from where each process stood, too).
    shutil.copytree(tmp / "ppo" / "checkpoint-24", tmp_path / "resumed" / "checkpoint-24")
    assert {"model.safetensors", "rng_state_0.pth", "rng_state_1.pth"} <= {
        p.name for p in (tmp_path / "resumed" / "checkpoint-24").iterdir()
    }
    log = launch(
        "ppo",
        "--sft_model_path",
        str(tmp / "sft"),
        "--reward_model_path",
        str(tmp / "reward"),
        "--dataset_name",
        str(prompts),
        "--output_dir",
        str(tmp_path / "resumed"),
        *ppo_args,
        "--resume_from_checkpoint",
        "true",
    )
    assert "resuming from" in log
    resumed, whole = (
        load_file(d / artifacts.MERGED_DIR / "model.safetensors") for d in (tmp_path / "resumed", tmp / "ppo")
    )
    assert all(torch.equal(resumed[k], whole[k]) for k in whole)


def test_dpo_runs_on_two_processes(sft_run, rankings_file, tmp_path):
    _, tmp = sft_run
    log = launch(
        "dpo",
        "--model_name_or_path",
        str(tmp / "sft"),
        "--dataset_name",
        str(rankings_file),
        "--output_dir",
        str(tmp / "dpo"),
        "--max_steps",
        "6",
        "--per_device_train_batch_size",
        "8",
    )
    assert "2 process(es)" in log and log.count("DPO done") == 1
    assert log.count("training pairs") == 1  # one split, logged once
    AutoModelForCausalLM.from_pretrained(tmp / "dpo" / artifacts.MERGED_DIR)
    assert_same_as_one_process_merge(tmp / "dpo", tmp / "sft" / artifacts.MERGED_DIR, AutoModelForCausalLM, tmp_path)


@pytest.mark.parametrize("stage", ["rloo", "grpo"])
def test_group_stages_run_on_two_processes(stage, reward_run, tmp_path):
    import json

    _, tmp = reward_run
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": p} for p in task.split_prompts()[0]])
    log = launch(
        stage,
        "--model_name_or_path",
        str(tmp / "sft"),
        "--reward_model_path",
        str(tmp / "reward"),
        "--dataset_name",
        str(prompts),
        "--output_dir",
        str(tmp / stage),
        "--max_steps",
        "3",
        "--per_device_train_batch_size",
        "8",
        "--num_generations",
        "4",
        "--logging_steps",
        "1",
        "--ptx_coef",
        "0.5",
        "--ptx_dataset",
        str(PLAIN_TEXT),
    )
    assert "2 process(es)" in log and log.count(f"{stage.upper()} done") == 1
    history = json.loads((tmp / stage / checkpoints.STATE_FILE).read_text())["log_history"]
    assert len([e for e in history if ptx.LOSS_KEY in e]) == 3  # PPO-ptx's term, through compute_loss
    kl = [e["kl"] for e in history if "kl" in e]
    assert len(kl) == 3 and abs(kl[0]) < 1e-6  # the reference is the SFT model on every rank
    AutoModelForCausalLM.from_pretrained(tmp / stage / artifacts.MERGED_DIR)
    assert_same_as_one_process_merge(tmp / stage, tmp / "sft" / artifacts.MERGED_DIR, AutoModelForCausalLM, tmp_path)
