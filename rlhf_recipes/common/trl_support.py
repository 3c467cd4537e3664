"""What the installed TRL offers: PPOTrainer left TRL in 1.13 (`trl.experimental.ppo`, "Remove PPOTrainer", #7020).

The PPO method needs TRL 1.12.x; SFT, the reward model, RLOO, GRPO and DPO run on 1.12 through the newest.
`has_ppo()` says whether this TRL has PPOTrainer, without importing it; `require_ppo()`, called before
anything imports it, stops with one paragraph that names the fix and the methods this TRL does have.
The methods registry (`rlhf_recipes.methods`) keeps PPO listed on every TRL and refuses it, with that
paragraph, when it is chosen.
"""

import importlib.metadata
import importlib.util
import sys
from importlib.machinery import PathFinder

from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.stages import Stage

PPO_MODULE = "trl.experimental.ppo"
PPO_TRL = "trl==1.12.*"  # the last TRL line with PPOTrainer (constraints.txt pins 1.12.0)


class NotInThisTrl(RecipeError, ImportError):
    """A method the installed TRL lacks (`method`, which `needs` another TRL); the message says how to get it and
    what runs instead. An ImportError too: the module that would import it cannot be imported."""

    def __init__(self, method: str, needs: str, message: str):
        super().__init__(message)
        self.method, self.needs = method, needs


def trl_version() -> str:
    return importlib.metadata.version("trl")


def has_ppo() -> bool:
    """Whether `trl.experimental.ppo` is there: looked up on disk (importing `trl.experimental` would print TRL's
    "experimental" warning), or read from `sys.modules` when it was imported or blocked there already."""
    if PPO_MODULE in sys.modules:
        return sys.modules[PPO_MODULE] is not None
    spec = importlib.util.find_spec("trl")
    for name in ("trl.experimental", PPO_MODULE):
        if spec is None or not spec.submodule_search_locations:
            return False
        spec = PathFinder.find_spec(name, list(spec.submodule_search_locations))
    return spec is not None


def ppo_missing() -> str:
    """The paragraph: why PPO cannot run on this TRL, the fix, and the methods that can."""
    return (f"The PPO method needs TRL's PPOTrainer, which TRL removed in 1.13; this is TRL {trl_version()}. For PPO, "
            f'install the last TRL that has it: pip install "{PPO_TRL}" (`make install` does: constraints.txt pins '
            "1.12.0). Or run a method this TRL has, from the same SFT and reward stages: rloo (the closest to PPO: "
            "the reward model with a KL penalty to SFT, no value model) or grpo, e.g. `rlhf-recipes pipeline FOLDER "
            "--methods rloo` or `python -m rlhf_recipes.methods.rloo --config FOLDER/rloo.yaml`.")  # fmt: skip


def require_ppo() -> None:
    """Stop where this TRL has no PPOTrainer: a NotInThisTrl with `ppo_missing()`. Run as a command
    (`python -m rlhf_recipes.methods.ppo`, as `accelerate launch -m` runs it), the error happens while the module
    is still being imported, where no entry point turns it into its one-paragraph message: it is printed here."""
    if has_ppo():
        return
    error = NotInThisTrl("ppo", PPO_TRL, ppo_missing())
    command = getattr(sys.modules.get("__main__"), "__spec__", None)
    if command is not None and command.name.startswith("rlhf_recipes.methods."):
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    raise error


def refusing_stage(missing: NotInThisTrl) -> Stage:
    """The declaration of a method this TRL lacks: listed like the others, it refuses with the error's message when
    the pipeline builds its parser, before any stage runs."""

    def refuse(*_, **__):
        raise NotInThisTrl(missing.method, missing.needs, str(missing))

    return Stage(missing.method, f"needs {missing.needs}, not on this TRL ({trl_version()})", refuse, refuse)


def without_ppo_note(methods: tuple[str, ...]) -> str:
    """What the log says when the default third stage is not PPO because this TRL has no PPOTrainer."""
    return (f"TRL {trl_version()} has no PPOTrainer (removed in 1.13): running {', '.join(methods)} as the third "
            f'stage instead of PPO (the closest method, without a value model). For PPO: pip install "{PPO_TRL}".')
