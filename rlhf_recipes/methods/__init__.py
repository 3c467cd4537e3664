"""The third stages: one module each, listed in BUILT_IN and imported when asked for (docs/methods.md)."""

import importlib

from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.stages import Stage

BUILT_IN = {  # name -> the module that declares it (its `STAGE`), in the order help and tables list them
    "ppo": "rlhf_recipes.methods.ppo",
    "rloo": "rlhf_recipes.methods.rloo",
    "grpo": "rlhf_recipes.methods.grpo",
    "dpo": "rlhf_recipes.methods.dpo",
}
DEFAULT = ("ppo",)  # the third stage run when none are named
_registered: dict[str, Stage] = {}


def register(stage: Stage) -> Stage:
    """Make a method declared outside this package available to the pipeline and the CLI."""
    _registered[stage.name] = stage
    return stage


def load(name: str, module: str) -> Stage:
    """The `STAGE` of a method's module; an import that fails becomes one paragraph naming the method."""
    try:
        return importlib.import_module(module).STAGE
    except ImportError as err:
        raise RecipeError(
            f"method {name!r}: its module {module} cannot be imported ({err}). Reinstall the package with its "
            "dependencies (docs/install.md), or choose another method."
        ) from err


def names() -> list[str]:
    """Every method's name, built-in first, without importing any."""
    return [*BUILT_IN, *(name for name in _registered if name not in BUILT_IN)]


def get(name: str) -> Stage:
    """One method's declaration, importing only its module."""
    if name in _registered:
        return _registered[name]
    if name not in BUILT_IN:
        raise RecipeError(f"method {name!r}: no such method; choose one of {', '.join(names())}.")
    return load(name, BUILT_IN[name])


def available() -> dict[str, Stage]:
    """{name: declaration} of every method (each module imported), as the CLI's help lists them."""
    return {name: get(name) for name in names()}
