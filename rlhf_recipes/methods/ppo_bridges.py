"""Bridges to TRL's PPOTrainer (trl.experimental.ppo, 1.12): distributed training, and a classifier as its reward.

`PPOTrainer`: under several processes `accelerator.prepare` wraps PPO's policy-and-value module in
DDP, but the trainer still reads `self.model.policy` (for the KL reference pass and in
`save_model`: upstream issue #2375) and `self.model.config` (for the model card of each checkpoint),
and its own `__init__` never sets `is_distributed_loading_by_transformers`, which `Trainer.save_model`
reads. All are attribute look-ups; the subclass answers them. With one process nothing is wrapped
and nothing changes.

It also resumes, which TRL's PPOTrainer cannot (its `train()` takes no checkpoint and always starts
at update 1). A checkpoint already holds the policy adapter, optimizer, scheduler, RNG states and
trainer state (`Trainer._save_checkpoint`); the subclass adds the value model, which is trained in
full and never saved otherwise, and where the dataloader stood (`_Batches`). To continue, it loads all of that, takes the dataloader
back to its place, and runs TRL's own loop for the updates left, with the state's step counter
restored (`_ContinueFrom`). The sample tables TRL prints during training draw from the rollouts'
random stream, so they are printed at the same updates as in an uninterrupted run. Resumed on CPU,
the run is bit for bit the one that was never stopped, on one process or several.

With `ptx` (PPO-ptx, `common.ptx`), every backward pass also carries γ × the language-model loss of
the next ptx batch. TRL's loop builds the PPO loss inline and hands it straight to
`accelerator.backward`, so that call, on this trainer's own accelerator, is the one place the term
can join it; one backward of the sum keeps DDP's gradient averaging as it is. Without `ptx` the
accelerator is left untouched.

`ClassifierReward`: TRL's PPOTrainer calls a reward model as
`getattr(model, model.base_model_prefix)(input_ids=...)` and then `model.score(hidden_states[-1])`,
on the *policy's* token ids. This module offers that interface: it decodes the policy's ids to text,
lets the classifier read it (`reward_model.LabelScore`), and returns the chosen label's score at
every position (PPO reads it at the last response token). The classifier reads the prompt and the
response together, as in the classic sentiment-PPO setup.
"""

import os
from pathlib import Path

import torch
from peft import load_peft_weights, set_peft_model_state_dict
from safetensors.torch import load_model, save_model
from torch import nn
from transformers import TrainerCallback
from transformers.modeling_outputs import BaseModelOutput
from transformers.trainer import OPTIMIZER_NAME, SCHEDULER_NAME, TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from rlhf_recipes.common.ptx import LOSS_KEY, PtxBatches, lm_loss
from rlhf_recipes.common.reward_model import LabelScore

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # PPO is experimental in TRL 1.x: we know

from rlhf_recipes.common.trl_support import require_ppo; require_ppo()  # noqa: E402, E702 (gone in TRL 1.13)
from trl.experimental.ppo import PPOConfig as TrlPPOConfig  # noqa: E402
from trl.experimental.ppo import PPOTrainer as TrlPPOTrainer  # noqa: E402
from trl.experimental.ppo.ppo_trainer import OnlineTrainerState

__all__ = ["ClassifierReward", "PPOTrainer", "TrlPPOConfig", "VALUE_MODEL_FILE"]

VALUE_MODEL_FILE = "value_model.safetensors"  # in each checkpoint, next to the policy adapter


class PPOTrainer(TrlPPOTrainer):
    """TRL's PPOTrainer that also works when its model is wrapped for distributed training, and resumes."""

    def __init__(self, *args, ptx: PtxBatches | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.ptx, self.ptx_losses = ptx, []
        if ptx is not None:
            self.accelerator.backward = self._with_ptx(self.accelerator.backward)
        unwrapped = self.accelerator.unwrap_model(self.model)
        if unwrapped is not self.model:
            # Set in __dict__ so the wrapper does not register the policy as a second submodule.
            self.model.__dict__["policy"] = unwrapped.policy
            self.model.__dict__["config"] = unwrapped.config  # read by the model card each checkpoint writes
        if not hasattr(self, "is_distributed_loading_by_transformers"):
            self.is_distributed_loading_by_transformers = False

    def train(self, resume_from_checkpoint: str | None = None):
        """TRL's PPO loop, continued from `resume_from_checkpoint` (a complete checkpoint folder) when given."""
        total, dataloader = self.args.num_total_batches, self.dataloader
        self.sample_every, self.sample_generations_freq = getattr(self, "sample_generations_freq", 1), 1
        self.dataloader = _Batches(dataloader)
        try:
            if resume_from_checkpoint:
                self._continue_from(resume_from_checkpoint)
            return super().train()
        finally:
            self.args.num_total_batches, self.dataloader = total, dataloader

    def _with_ptx(self, backward):
        def backward_with_ptx(loss, **kwargs):
            policy = self.accelerator.unwrap_model(self.model).policy
            with self.accelerator.autocast():
                ptx_loss = lm_loss(policy, self.ptx.next(loss.device))
            self.ptx_losses.append(ptx_loss.detach())
            return backward(loss + self.args.ptx_coef * ptx_loss, **kwargs)

        return backward_with_ptx

    def log(self, logs: dict, start_time: float | None = None) -> None:
        if self.ptx_losses:  # the mean since the last log, over every process
            logs[LOSS_KEY] = self.accelerator.gather(torch.stack(self.ptx_losses)).mean().item()
            self.ptx_losses = []
        super().log(logs, start_time)

    def _continue_from(self, checkpoint: str) -> None:
        checkpoint = Path(checkpoint)
        saved = OnlineTrainerState.load_from_json(str(checkpoint / TRAINER_STATE_NAME))
        unwrapped = self.accelerator.unwrap_model(self.model)
        # Both load in place: the optimizer holds these very tensors.
        set_peft_model_state_dict(unwrapped.policy, load_peft_weights(str(checkpoint)))
        load_model(unwrapped.value_model, str(checkpoint / VALUE_MODEL_FILE))
        for state, file in ((self.optimizer, OPTIMIZER_NAME), (self.lr_scheduler, SCHEDULER_NAME)):
            state.load_state_dict(torch.load(checkpoint / file, map_location="cpu", weights_only=True))
        position = torch.load(checkpoint / self._position_file, weights_only=True)
        self.dataloader.go_to(position)
        if self.ptx is not None:
            self.ptx.taken = position.get("ptx_taken", 0)
        self._load_rng_state(str(checkpoint))
        if self._sample_table_due(saved.global_step):  # the run printed it after saving, from the same stream
            super().generate_completions(sampling=True)
        self.args.num_total_batches -= saved.global_step  # TRL's loop counts from 1: it runs the updates left
        self.callback_handler.callbacks.insert(0, _ContinueFrom(saved, self.args.num_total_batches + saved.global_step))

    def generate_completions(self, sampling: bool = False):
        if not sampling or self._sample_table_due(self.state.global_step):
            super().generate_completions(sampling)

    def _sample_table_due(self, update: int) -> bool:
        return self.args.num_sample_generations > 0 and (update - 1) % self.sample_every == 0

    def _save_checkpoint(self, model, trial):
        """The value model goes into the checkpoint first: trainer_state.json, written last, marks it complete."""
        folder = Path(self._get_output_dir(trial=trial)) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        if self.args.should_save:
            folder.mkdir(parents=True, exist_ok=True)
            save_model(self.accelerator.unwrap_model(self.model).value_model, str(folder / VALUE_MODEL_FILE))
        self.accelerator.wait_for_everyone()
        position = self.dataloader.position() | ({"ptx_taken": self.ptx.taken} if self.ptx is not None else {})
        torch.save(position, folder / self._position_file)  # each process its own
        super()._save_checkpoint(model, trial)

    @property
    def _position_file(self) -> str:
        return f"dataloader_{self.accelerator.process_index}.pt"


class _ContinueFrom(TrainerCallback):
    """Sets the fresh state TRL's loop starts with back to the checkpoint's: step, episode, logs, total steps."""

    def __init__(self, saved, max_steps: int):
        self.saved, self.max_steps = saved, max_steps

    def on_train_begin(self, args, state, control, **kwargs):
        state.global_step, state.episode = self.saved.global_step, self.saved.episode
        state.log_history, state.max_steps = self.saved.log_history, self.max_steps


class _Batches:
    """The dataloader, endlessly, as TRL's loop reads it; it knows where it stands, to go back there on resume.

    A pass over the prompts is shuffled from the global RNG as it stood when the pass began (one process),
    or from a generator of the sampler's own that each pass moves on (accelerate's, under several): so
    going back replays every batch taken, with the RNG set back at the start of the last pass.
    """

    def __init__(self, dataloader):
        self.dataloader, self.passes, self.taken, self.pass_rng = dataloader, 0, 0, None
        self.rewind = None  # (pass, RNG state): the RNG state to set when that pass begins
        self.stream = self._endless()

    def __iter__(self):
        return self.stream

    def _endless(self):
        while True:
            if self.rewind and self.rewind[0] == self.passes:
                torch.random.set_rng_state(self.rewind[1])
                self.rewind = None
            self.pass_rng, self.passes, self.taken = torch.random.get_rng_state(), self.passes + 1, 0
            for batch in self.dataloader:
                self.taken += 1
                yield batch

    def position(self) -> dict:
        return {"passes": self.passes, "taken": self.taken, "pass_rng": self.pass_rng}

    def go_to(self, position: dict) -> None:
        self.rewind = (position["passes"] - 1, position["pass_rng"])
        for _ in range((position["passes"] - 1) * len(self.dataloader) + position["taken"]):
            next(self.stream)


class _ReadAsText(nn.Module):
    def __init__(self, label_score: LabelScore, policy_tokenizer):
        super().__init__()
        self.classifier = label_score.classifier  # a submodule, so it moves with the reward model
        self.label_score = label_score
        self.policy_tokenizer = policy_tokenizer

    @torch.no_grad()
    def forward(self, input_ids, attention_mask, **_):
        texts = self.policy_tokenizer.batch_decode(input_ids * attention_mask, skip_special_tokens=True)
        reward = self.label_score(texts).to(input_ids.device)
        hidden = reward[:, None, None].expand(-1, input_ids.shape[1], 1)
        return BaseModelOutput(last_hidden_state=hidden, hidden_states=(hidden,))


class ClassifierReward(nn.Module):
    """Reward = `transform` of one label's logit from a sequence classifier at `path`."""

    base_model_prefix = "reader"

    def __init__(self, path: str, label: str, transform: str, policy_tokenizer):
        super().__init__()
        label_score = LabelScore(path, label, transform)
        self.reader = _ReadAsText(label_score, policy_tokenizer)
        self.score = nn.Identity()
        self.config = label_score.classifier.config

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ClassifierReward is read through PPO's reward interface (reader + score).")
