"""Stage 3, GRPO: TRL's `GRPOTrainer` with a LoRA adapter on the SFT model, against the reward model: each response
is scored against its group, so no value model; its `beta` is a KL term of the loss, off at TRL's default 0
(docs/methods.md)."""

from dataclasses import dataclass

import trl

from rlhf_recipes.common.arguments import PolicyAdapterConfig, StageSettings
from rlhf_recipes.common.parsing import RecipeParser, run
from rlhf_recipes.common.ptx import PtxLoss, PtxSettings
from rlhf_recipes.methods import sampled_groups
from rlhf_recipes.methods.sampled_groups import GroupArguments


@dataclass
class GRPOConfig(StageSettings, PtxSettings, trl.GRPOConfig):
    """TRL's GRPOConfig and PPO-ptx's γ (`common.ptx`); precision follows the hardware unless set."""


class GRPOTrainer(PtxLoss, trl.GRPOTrainer):
    """TRL's GRPOTrainer, with the ptx term when `ptx_coef` > 0."""


def main(script_args: GroupArguments, training_args: GRPOConfig, model_args: PolicyAdapterConfig):
    """Optimise the policy adapter with GRPO; save it with the merged policy under `output_dir`."""
    return sampled_groups.train(GRPOTrainer, STAGE, script_args, training_args, model_args)


def make_parser() -> RecipeParser:
    return RecipeParser((GroupArguments, GRPOConfig, PolicyAdapterConfig))


STAGE = sampled_groups.stage(
    "grpo", "group-relative policy optimization against the reward model (TRL GRPOTrainer)", make_parser, main
)

if __name__ == "__main__":
    run(main, make_parser)
