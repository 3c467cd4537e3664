"""The third stages, one module each: every module here that declares a `STAGE` is a method.

`available()` finds them (and any method a user's code registers with `register`); the pipeline,
the CLI's help and the report read their declarations (`common.stages.Stage`), so adding a method is
one module plus its YAML. A method whose trainer the installed TRL lacks (PPO, from TRL 1.13 on) stays listed
and refuses, with the fix, when chosen (`common.trl_support`).
"""

import importlib
import pkgutil

from rlhf_recipes.common import trl_support
from rlhf_recipes.common.stages import Stage

ORDER = ("ppo", "rloo", "grpo", "dpo")  # how help and tables list the built-in methods; others follow
_registered: dict[str, Stage] = {}


def default() -> tuple[str, ...]:
    """The third stages run when none are named: PPO, or, where this TRL has no PPOTrainer (1.13 on), RLOO: the
    closest to it (the reward model, a KL penalty to SFT on the reward), without a value model."""
    return ("ppo",) if trl_support.has_ppo() else ("rloo",)


DEFAULT = default()  # this TRL's (the CLI asks `default()` itself, when it runs)


def register(stage: Stage) -> Stage:
    """Make a method declared outside this package available to the pipeline and the CLI."""
    _registered[stage.name] = stage
    return stage


def available() -> dict[str, Stage]:
    """{name: declaration} of every method: this package's modules (in ORDER, then by name), then registered ones."""
    found = {}
    modules = sorted(pkgutil.iter_modules(__path__), key=lambda m: (ORDER.index(m.name) if m.name in ORDER else 99,
                                                                     m.name))  # fmt: skip
    for module in modules:
        try:
            stage = getattr(importlib.import_module(f"{__name__}.{module.name}"), "STAGE", None)
        except trl_support.NotInThisTrl as missing:  # the method is listed, and refuses when chosen
            stage = trl_support.refusing_stage(missing) if missing.method == module.name else None
        if stage is not None:
            found[stage.name] = stage
    return found | _registered

