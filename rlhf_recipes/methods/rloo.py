"""Stage 3, RLOO: TRL's `RLOOTrainer` with a LoRA adapter on the SFT model, against the reward model: the other
responses' mean reward is each one's baseline, so no value model (docs/methods.md)."""

from dataclasses import dataclass

import trl

from rlhf_recipes.common.arguments import PolicyAdapterConfig, StageSettings
from rlhf_recipes.common.parsing import RecipeParser, run
from rlhf_recipes.common.ptx import PtxLoss, PtxSettings
from rlhf_recipes.methods import sampled_groups
from rlhf_recipes.methods.sampled_groups import GroupArguments


@dataclass
class RLOOConfig(StageSettings, PtxSettings, trl.RLOOConfig):
    """TRL's RLOOConfig and PPO-ptx's γ (`common.ptx`); precision follows the hardware unless set."""


class RLOOTrainer(PtxLoss, trl.RLOOTrainer):
    """TRL's RLOOTrainer, with the ptx term when `ptx_coef` > 0."""


def main(script_args: GroupArguments, training_args: RLOOConfig, model_args: PolicyAdapterConfig):
    """Optimise the policy adapter with RLOO; save it with the merged policy under `output_dir`."""
    return sampled_groups.train(RLOOTrainer, STAGE, script_args, training_args, model_args)


def make_parser() -> RecipeParser:
    return RecipeParser((GroupArguments, RLOOConfig, PolicyAdapterConfig))


STAGE = sampled_groups.stage(
    "rloo", "REINFORCE leave-one-out against the reward model (TRL RLOOTrainer), no value model", make_parser, main
)

if __name__ == "__main__":
    run(main, make_parser)
