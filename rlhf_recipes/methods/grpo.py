"""Stage 3, GRPO: TRL's `GRPOTrainer` with a LoRA adapter on the merged SFT model, against the reward model.

    accelerate launch -m rlhf_recipes.methods.grpo --config recipes/quickstart/grpo.yaml
    python -m rlhf_recipes.methods.grpo --config recipes/quickstart/grpo.yaml

Group Relative Policy Optimization: for each prompt it samples `num_generations` responses and
scores each against its group (reward minus the group's mean, scaled by its std: `scale_rewards`),
so no value model is trained. `beta` is the KL-to-SFT knob, but it works differently from PPO's
and RLOO's: the per-token KL to the reference is a term of the loss, not a penalty on the reward.
TRL's default is `beta: 0.0` (no reference, no KL); the recipes set it, since KL to SFT is what
keeps the policy out of the reward model's blind spots. The policy is `model_name_or_path` (the SFT
stage's output) plus a new LoRA adapter; with the adapter disabled it is the SFT model, the
reference. The reward is as RLOO's (`group.reward_function`). Outputs in `output_dir`: the adapter,
`merged/`, `trainer_state.json` and `grpo_training.png`.
"""

from dataclasses import dataclass

import trl

from rlhf_recipes.common.arguments import PolicyAdapterConfig, StageSettings
from rlhf_recipes.common.parsing import RecipeParser, run
from rlhf_recipes.common.ptx import PtxLoss, PtxSettings
from rlhf_recipes.methods import group
from rlhf_recipes.methods.group import GroupArguments


@dataclass
class GRPOConfig(StageSettings, PtxSettings, trl.GRPOConfig):
    """TRL's GRPOConfig and PPO-ptx's γ (`common.ptx`); precision follows the hardware unless set."""


class GRPOTrainer(PtxLoss, trl.GRPOTrainer):
    """TRL's GRPOTrainer, with the ptx term when `ptx_coef` > 0."""


def main(script_args: GroupArguments, training_args: GRPOConfig, model_args: PolicyAdapterConfig):
    """Optimise the policy adapter with GRPO; save it with the merged policy under `output_dir`."""
    return group.train(GRPOTrainer, STAGE, script_args, training_args, model_args)


def make_parser() -> RecipeParser:
    return RecipeParser((GroupArguments, GRPOConfig, PolicyAdapterConfig))


STAGE = group.stage(
    "grpo", "group-relative policy optimization against the reward model (TRL GRPOTrainer)", make_parser, main
)

if __name__ == "__main__":
    run(main, make_parser)
