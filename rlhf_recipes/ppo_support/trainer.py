"""Bridges for running TRL's PPOTrainer (trl.experimental.ppo, 1.12) under DistributedDataParallel.

Under several processes `accelerator.prepare` wraps PPO's policy-and-value module in DDP, but the
trainer still reads `self.model.policy` (for the KL reference pass and in `save_model`: upstream
issue #2375), and its own `__init__` never sets `is_distributed_loading_by_transformers`, which
`Trainer.save_model` reads. Both are attribute look-ups; this subclass answers them. With one
process nothing is wrapped and nothing changes.
"""

import os

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # PPO is experimental in TRL 1.x: we know

from trl.experimental.ppo import PPOConfig as TrlPPOConfig  # noqa: E402
from trl.experimental.ppo import PPOTrainer as TrlPPOTrainer  # noqa: E402

__all__ = ["PPOTrainer", "TrlPPOConfig"]


class PPOTrainer(TrlPPOTrainer):
    """TRL's PPOTrainer that also works when its model is wrapped for distributed training."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        unwrapped = self.accelerator.unwrap_model(self.model)
        if unwrapped is not self.model:
            # Set in __dict__ so the wrapper does not register the policy as a second submodule.
            self.model.__dict__["policy"] = unwrapped.policy
        if not hasattr(self, "is_distributed_loading_by_transformers"):
            self.is_distributed_loading_by_transformers = False
