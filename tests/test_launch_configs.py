import pytest
import torch
from accelerate.commands.config.config_args import load_config_from_file

from rlhf_recipes import cli
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.launch import check_accelerate_config
from tests.conftest import REPO

CONFIGS = sorted((REPO / "accelerate_configs").glob("*.yaml"))
EXPECTED = {"single_gpu", "multi_gpu", "deepspeed_zero2", "deepspeed_zero3", "fsdp", "multi_node"}


def test_every_expected_config_is_shipped_with_a_header():
    assert {p.stem for p in CONFIGS} == EXPECTED
    for path in CONFIGS:
        header = path.read_text().splitlines()[:6]
        assert header[0].startswith("#") and any("accelerate launch" in line for line in header), path.name


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_config_parses_with_accelerate(path):
    config = load_config_from_file(str(path))
    assert config.distributed_type is not None


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks what a machine without a GPU is told")
@pytest.mark.parametrize(
    "name, message",
    [
        ("deepspeed_zero2", "DeepSpeed needs a CUDA GPU and this machine has none"),
        ("deepspeed_zero3", "DeepSpeed is not installed"),
        ("fsdp", "FSDP needs a CUDA GPU"),
        ("multi_node", r"`num_machines` still holds the placeholder '<NUMBER_OF_MACHINES>'"),
        ("multi_gpu", "set ACCELERATE_USE_CPU=1"),
    ],
)
def test_configs_that_cannot_launch_here_name_file_and_fix(name, message, monkeypatch):
    monkeypatch.delenv("ACCELERATE_USE_CPU", raising=False)
    with pytest.raises(RecipeError, match=rf"accelerate config .*{name}.yaml: .*{message}"):
        check_accelerate_config(REPO / "accelerate_configs" / f"{name}.yaml")


def test_single_gpu_and_cpu_ddp_configs_can_launch_on_this_machine(monkeypatch, capsys):
    check_accelerate_config(REPO / "accelerate_configs" / "single_gpu.yaml")
    monkeypatch.setenv("ACCELERATE_USE_CPU", "1")
    cli.main(["check-config", str(REPO / "accelerate_configs" / "multi_gpu.yaml")])
    assert "MULTI_GPU, 2 process(es), can launch on this machine" in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks what a machine without a GPU is told")
def test_an_fsdp_launch_without_a_gpu_stops_with_the_fix():
    import os
    import subprocess
    import sys

    env = os.environ | {"ACCELERATE_USE_FSDP": "true", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "rlhf_recipes.sft", "--config", str(REPO / "recipes/quickstart/sft.yaml")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "launched with a FSDP accelerate config, which needs a CUDA GPU" in done.stderr
    assert "Traceback" not in done.stderr
