"""TRL 1.12's own PPOTrainer as a third stage, `trl-ppo`, beside ours: the reference in quality and speed sweeps.

    python -m bench.quality --seeds 5 --cpu-capabilities default avx2 --methods ppo trl-ppo --recipes <folder>

Needs TRL 1.12 (`make install-trl1.12`, .venv-trl1.12). The stage is PPO's own (`methods.ppo.main`: the same
models, data, config and seed) with TRL's trainer in place of ours; `recipes(folder)` writes a copy of a recipe
folder whose `trl-ppo.yaml` is its `ppo.yaml`.
"""

import dataclasses
import shutil
import tempfile
from pathlib import Path
from unittest import mock

NAME = "trl-ppo"


def trainer_class():
    from trl.experimental.ppo import PPOTrainer

    class TrlPPOTrainer(PPOTrainer):
        """TRL's PPOTrainer called as ours is: no reference model (the adapter off), no resume, no ptx."""

        def __init__(self, *, args, ptx=None, **kwargs):
            super().__init__(args=reference_config(args), ref_model=None, **kwargs)

        def train(self, resume_from_checkpoint=None):
            return super().train()

    return TrlPPOTrainer


def reference_config(args):
    """TRL 1.12's PPOConfig with the values of our `args` (the fields both have; the Trainer's own counts aside)."""
    from trl.experimental.ppo import PPOConfig

    fields = [f.name for f in dataclasses.fields(PPOConfig) if f.init and hasattr(args, f.name)]
    return PPOConfig(**{name: getattr(args, name) for name in fields if name not in ("max_steps", "world_size")})


def register() -> None:
    """Make `trl-ppo` a method of this process's pipeline."""
    from dataclasses import replace

    from rlhf_recipes import methods
    from rlhf_recipes.methods import ppo

    def main(*parsed):
        with mock.patch.object(ppo, "PPOTrainer", trainer_class()):
            return ppo.main(*parsed)

    methods.register(replace(ppo.STAGE, name=NAME, summary="TRL 1.12's PPOTrainer (the reference)", main=main))


def recipes(folder: Path) -> Path:
    """A copy of the recipe folder `folder` (its data too) with `trl-ppo.yaml` (its ppo.yaml)."""
    copy = Path(tempfile.mkdtemp(prefix="trl-ppo-recipes-")) / folder.name
    shutil.copytree(folder, copy)
    shutil.copy(folder / "ppo.yaml", copy / f"{NAME}.yaml")
    return copy
