"""The GPUs a plan is made for, and the verdict against one."""

import re

from rlhf_recipes.common.errors import RecipeError

GIB = 2**30
GPUS = {  # name -> (memory in GiB as the card reports it, whether it computes in bf16)
    "T4": (15.0, False),
    "L4": (22.0, True),
    "A10": (22.0, True),
    "A100-40": (39.4, True),
    "A100-80": (79.1, True),
    "H100": (79.1, True),
    "H200": (139.8, True),
}
TIGHT = 0.85  # above this share of the GPU's memory a plan is "tight": fragmentation and the CUDA context can tip it
ALLOCATOR_FACTOR = 1.0  # the CUDA caching allocator's overhead over the traced bytes: not yet measured on a GPU


def gpu(name: str) -> tuple[str, float, bool]:
    """(label, bytes, bf16) of `--gpu NAME`: one of GPUS or `<N>GB` (assumed to compute in bf16)."""
    known = {key.lower(): key for key in GPUS}
    if name.lower() in known:
        key = known[name.lower()]
        memory, bf16 = GPUS[key]
        return key, memory * GIB, bf16
    found = re.fullmatch(r"(\d+(?:\.\d+)?)\s*gb", name.strip().lower())
    if found:
        return f"{found.group(1)} GB", float(found.group(1)) * GIB, True
    raise RecipeError(
        f"--gpu {name!r}: not a GPU the planner knows. Give one of {', '.join(GPUS)}, or the memory of yours as "
        "<N>GB (e.g. 24GB)."
    )


def verdict(peak: float, capacity: float) -> str:
    """'fits', 'tight' (over 85% of the GPU) or 'does not fit'."""
    if peak > capacity:
        return "does not fit"
    return "tight" if peak > TIGHT * capacity else "fits"
