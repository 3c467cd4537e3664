"""Every stage under DeepSpeed ZeRO-2/3 and FSDP on one GPU: these run only where a CUDA GPU exists."""

import pytest
import torch

from rlhf_recipes.common import artifacts
from rlhf_recipes.quickstart import task
from tests.conftest import accelerate_launch, write_jsonl

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
CONFIGS = ["deepspeed_zero2", "deepspeed_zero3", "fsdp"]


def launch(config: str, stage: str, *args: str) -> None:
    accelerate_launch(config, stage, *args, launcher_args=("--num_processes", "1"))


@pytest.mark.parametrize("config", CONFIGS)
def test_every_stage_runs_under(config, tmp_path, tiny_dir, rankings_file):
    sft_data = write_jsonl(tmp_path / "sft.jsonl", task.sft_rows(task.split_prompts()[0], 320, seed=17))
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": p} for p in task.split_prompts()[0]])
    launch(
        config,
        "sft",
        "--model_name_or_path",
        tiny_dir,
        "--dataset_name",
        str(sft_data),
        "--output_dir",
        str(tmp_path / "sft"),
        "--num_train_epochs",
        "1",
    )
    launch(
        config,
        "reward",
        "--model_name_or_path",
        str(tmp_path / "sft"),
        "--dataset_name",
        str(rankings_file),
        "--output_dir",
        str(tmp_path / "reward"),
        "--num_train_epochs",
        "1",
    )
    launch(
        config,
        "ppo",
        "--sft_model_path",
        str(tmp_path / "sft"),
        "--reward_model_path",
        str(tmp_path / "reward"),
        "--dataset_name",
        str(prompts),
        "--output_dir",
        str(tmp_path / "ppo"),
        "--total_episodes",
        "64",
        "--per_device_train_batch_size",
        "16",
        "--local_rollout_forward_batch_size",
        "16",
        "--num_sample_generations",
        "0",
        "--report_to",
        "none",
    )
    for stage in ("sft", "reward", "ppo"):
        assert artifacts.is_complete(tmp_path / stage)
