"""Checks on an accelerate config file, so a launch fails here with the fix rather than deep inside a library.

    rlhf-recipes check-config accelerate_configs/multi_node.yaml
"""

import importlib.util
import os
import re
from pathlib import Path

import yaml

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

    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"accelerate config {path}: no such file.")
    config = yaml.safe_load(path.read_text())
    if not isinstance(config, dict):
        raise RecipeError(f"accelerate config {path}: expected a YAML mapping of accelerate settings.")
    problems = [
        f"`{key}` still holds the placeholder {value!r}; replace it as the comment beside it says."
        for key, value in _flatten(config).items()
        if isinstance(value, str) and PLACEHOLDER.search(value)
    ]
    for key in ("num_processes", "num_machines", "machine_rank"):
        value = config.get(key)
        if value is not None and not PLACEHOLDER.search(str(value)) and not isinstance(value, int):
            problems.append(f"`{key}` must be a whole number, not {value!r}.")
    kind = str(config.get("distributed_type", "NO"))
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
