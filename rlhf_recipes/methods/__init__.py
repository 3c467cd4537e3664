"""The third stages, one module each: every module here that declares a `STAGE` is a method.

`available()` finds them (and any method a user's code registers with `register`); the pipeline,
the CLI's help and the report read their declarations (`common.stages.Stage`), so adding a method is
one module plus its YAML.
"""

import importlib
import pkgutil

from rlhf_recipes.common.stages import Stage

ORDER = ("ppo", "rloo", "grpo", "dpo")  # how help and tables list the built-in methods; others follow
_registered: dict[str, Stage] = {}


DEFAULT = ("ppo",)  # the third stage run when none are named


def register(stage: Stage) -> Stage:
    """Make a method declared outside this package available to the pipeline and the CLI."""
    _registered[stage.name] = stage
    return stage


def available() -> dict[str, Stage]:
    """{name: declaration} of every method: this package's modules (in ORDER, then by name), then registered ones."""
    found = {}
    modules = sorted(
        pkgutil.iter_modules(__path__), key=lambda m: (ORDER.index(m.name) if m.name in ORDER else 99, m.name)
    )
    for module in modules:
        stage = getattr(importlib.import_module(f"{__name__}.{module.name}"), "STAGE", None)
        if stage is not None:
            found[stage.name] = stage
    return found | _registered
