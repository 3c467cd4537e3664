"""Stage 3, RLOO: TRL's `RLOOTrainer` with a LoRA adapter on the merged SFT model, against the reward model.

    accelerate launch -m rlhf_recipes.methods.rloo --config recipes/quickstart/rloo.yaml
    python -m rlhf_recipes.methods.rloo --config recipes/quickstart/rloo.yaml

REINFORCE Leave-One-Out: for each prompt it samples `num_generations` responses, scores each with
the reward, and takes the mean reward of the *other* responses as its baseline, so no value model
is trained. `beta` is the KL-to-SFT knob, as PPO's `kl_coef`: each response's KL to the reference
is subtracted from its reward before the baseline (larger: stays closer to SFT). The policy is
`model_name_or_path` (the SFT stage's output) plus a new LoRA adapter; with the adapter disabled it
is the SFT model, the reference. The reward is the reward stage's model at `reward_model_path`,
standardized with its recorded statistics, or one label of a text classifier
(`reward_classifier_label`). Outputs in `output_dir`: the adapter, `merged/`, `trainer_state.json`
and `rloo_training.png`.
"""

from dataclasses import dataclass

import trl

from rlhf_recipes.common.arguments import PolicyAdapterConfig, StageSettings
from rlhf_recipes.common.parsing import RecipeParser, run
from rlhf_recipes.common.ptx import PtxLoss, PtxSettings
from rlhf_recipes.methods import group
from rlhf_recipes.methods.group import GroupArguments


@dataclass
class RLOOConfig(StageSettings, PtxSettings, trl.RLOOConfig):
    """TRL's RLOOConfig and PPO-ptx's γ (`common.ptx`); precision follows the hardware unless set."""


class RLOOTrainer(PtxLoss, trl.RLOOTrainer):
    """TRL's RLOOTrainer, with the ptx term when `ptx_coef` > 0."""


def main(script_args: GroupArguments, training_args: RLOOConfig, model_args: PolicyAdapterConfig):
    """Optimise the policy adapter with RLOO; save it with the merged policy under `output_dir`."""
    return group.train(RLOOTrainer, STAGE, script_args, training_args, model_args)


def make_parser() -> RecipeParser:
    return RecipeParser((GroupArguments, RLOOConfig, PolicyAdapterConfig))


STAGE = group.stage(
    "rloo", "REINFORCE leave-one-out against the reward model (TRL RLOOTrainer), no value model", make_parser, main
)

if __name__ == "__main__":
    run(main, make_parser)
