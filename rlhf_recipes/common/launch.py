"""Launch checks, so a launch fails here with the fix rather than deep inside a library: `check_accelerate_config`
(`rlhf-recipes check-config`) and `check_launch` at every stage's start (docs/launching.md)."""

import importlib.util
import os
import re
from pathlib import Path

from rlhf_recipes.common.errors import RecipeError

PLACEHOLDER = re.compile(r"<[A-Z_]+>")
NEEDS_GPU = {"DEEPSPEED": "DeepSpeed", "FSDP": "FSDP"}


def _flatten(config: dict, prefix: str = "") -> dict:
    items = {}
    for key, value in config.items():
        if isinstance(value, dict):
            items |= _flatten(value, f"{prefix}{key}.")
        else:
            items[f"{prefix}{key}"] = value
    return items


def check_accelerate_config(path: str | Path) -> dict:
    """The config as a dict if it can launch on this machine; otherwise one RecipeError listing every problem."""
    import torch
    from accelerate.commands.config.config_args import load_config_from_file

    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"accelerate config {path}: no such file.")
    try:
        config = load_config_from_file(str(path)).to_dict()
    except (AttributeError, TypeError, ValueError) as err:  # not a mapping, or keys accelerate does not know
        raise RecipeError(f"accelerate config {path}: not a valid accelerate config ({err}).") from None
    problems = [
        f"`{key}` still holds the placeholder {value!r}; replace it as the comment beside it says."
        for key, value in _flatten(config).items()
        if isinstance(value, str) and PLACEHOLDER.search(value)
    ]
    for key in ("num_processes", "num_machines", "machine_rank"):
        value = config.get(key)
        if value is not None and not PLACEHOLDER.search(str(value)) and not isinstance(value, int):
            problems.append(f"`{key}` must be a whole number, not {value!r}.")
    kind = str(config.get("distributed_type", "NO")).split(".")[-1]
    cpu_run = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    if kind in NEEDS_GPU and not torch.cuda.is_available():
        problems.append(
            f"{NEEDS_GPU[kind]} needs a CUDA GPU and this machine has none; for a multi-process test on CPU use "
            "accelerate_configs/multi_gpu.yaml with ACCELERATE_USE_CPU=1."
        )
    if kind == "DEEPSPEED" and importlib.util.find_spec("deepspeed") is None:
        problems.append('DeepSpeed is not installed: pip install -e ".[deepspeed]".')
    if kind == "MULTI_GPU" and not torch.cuda.is_available() and not cpu_run:
        problems.append(
            "this machine has no GPU: set ACCELERATE_USE_CPU=1 to run the processes on the CPU (gloo backend)."
        )
    if problems:
        raise RecipeError(f"accelerate config {path}: " + " ".join(problems))
    return config


def check_launch() -> None:
    """Refuse a DeepSpeed or FSDP launch on a machine without a CUDA GPU before any library trips over it."""
    import torch

    launched = [name for name in NEEDS_GPU if os.environ.get(f"ACCELERATE_USE_{name}", "").lower() == "true"]
    if launched and not torch.cuda.is_available():
        raise RecipeError(
            f"launched with a {NEEDS_GPU[launched[0]]} accelerate config, which needs a CUDA GPU, and this machine "
            "has none. For several processes on CPU use accelerate_configs/multi_gpu.yaml with ACCELERATE_USE_CPU=1; "
            "`rlhf-recipes check-config FILE` checks a config before launching."
        )
