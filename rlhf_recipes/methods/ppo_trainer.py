"""PPO as TRL 1.12's PPOTrainer runs it, built on `transformers.Trainer`, not TRL's GRPO/RLOO trainers: PPO's loop maps
onto the Trainer's public hooks (one Trainer step per optimizer step), which bring the optimizer, accumulation,
DDP/DeepSpeed/FSDP, logging, checkpoints and resume on every TRL, while GRPO's would mean overriding its private,
version-bound generation and loss methods and would still lack a value model and GAE. The loop step by step, and
where it departs from TRL 1.12 on purpose: docs/ppo.md."""

import math
import os
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn
from torch.utils.data import DataLoader, Sampler
from transformers import DataCollatorWithPadding, GenerationConfig, Trainer, TrainerCallback, TrainingArguments
from transformers.utils import SAFE_WEIGHTS_NAME
from trl.models.utils import unwrap_model_for_generation
from trl.trainer.utils import disable_dropout_in_model, selective_log_softmax

from rlhf_recipes.common.ptx import LOSS_KEY, PtxBatches, lm_loss

INVALID_LOGPROB = 1.0  # TRL's filler for log-probabilities past a response's end


@dataclass
class PPOConfig(TrainingArguments):
    """TRL 1.12 PPOConfig's fields, names, meanings and defaults, over transformers' TrainingArguments.

    `save_steps` and `logging_steps` count updates (one rollout batch each), as in TRL; `max_grad_norm`
    defaults to 0, no clipping, as TRL 1.12's PPO never clipped.
    """

    learning_rate: float = field(default=3e-6, metadata={"help": "The initial learning rate for AdamW."})
    logging_steps: float = field(default=10, metadata={"help": "Log every this many updates."})
    bf16: bool | None = field(default=None, metadata={"help": "bf16 mixed precision (unset: as the hardware allows)."})
    max_grad_norm: float = field(default=0.0, metadata={"help": "Clip gradients to this norm; 0: no clipping."})
    dataset_num_proc: int | None = field(default=None, metadata={"help": "Processes to prepare the dataset with."})
    num_mini_batches: int = field(default=1, metadata={"help": "Number of minibatches to split a batch into."})
    total_episodes: int | None = field(
        default=None,
        metadata={"help": "Responses to sample in all (default: num_train_epochs passes over the prompts)."},
    )
    local_rollout_forward_batch_size: int = field(
        default=64, metadata={"help": "Per-process batch of the no-grad rollout passes (generation, scoring)."}
    )
    num_sample_generations: int = field(
        default=10, metadata={"help": "How many sample tables to print during training (0: none)."}
    )
    response_length: int = field(default=53, metadata={"help": "Length of the response, in tokens."})
    stop_token: str | None = field(
        default=None,
        metadata={
            "help": "Truncate responses after this token: 'eos' or a token of the vocabulary; excludes `stop_token_id`."
        },
    )
    stop_token_id: int | None = field(default=None, metadata={"help": "Truncate responses after this token id."})
    temperature: float = field(default=0.7, metadata={"help": "Sampling temperature."})
    missing_eos_penalty: float | None = field(
        default=None, metadata={"help": "Subtracted from the score of a response that never produced the eos token."}
    )
    sft_model_path: str = field(default="EleutherAI/pythia-160m", metadata={"help": "Path to the SFT model."})
    reward_model_path: str = field(default="EleutherAI/pythia-160m", metadata={"help": "Path to the reward model."})
    num_ppo_epochs: int = field(default=4, metadata={"help": "Passes of PPO over each rollout batch."})
    whiten_rewards: bool = field(default=False, metadata={"help": "Whether to whiten the rewards."})
    kl_coef: float = field(default=0.05, metadata={"help": "KL coefficient."})
    kl_estimator: Literal["k1", "k3"] = field(
        default="k1", metadata={"help": "KL estimator (joschu.net/blog/kl-approx.html): k1 or k3 (lower variance)."}
    )
    cliprange: float = field(default=0.2, metadata={"help": "Clip range."})
    vf_coef: float = field(default=0.1, metadata={"help": "Value function coefficient."})
    cliprange_value: float = field(default=0.2, metadata={"help": "Clip range for the value function."})
    gamma: float = field(default=1.0, metadata={"help": "Discount factor."})
    lam: float = field(default=0.95, metadata={"help": "Lambda value for GAE."})
    ds3_gather_for_generation: bool = field(
        default=True, metadata={"help": "DeepSpeed ZeRO-3: gather the policy's weights to generate (faster)."}
    )


@dataclass
class Sizes:
    """TRL 1.12's batch arithmetic: one update rolls out `local_batch` prompts per process, then trains on them."""

    local_batch: int  # per_device_train_batch_size x gradient_accumulation_steps
    batch: int  # local_batch x processes
    local_mini_batch: int
    micro_batch: int
    updates: int
    micro_steps_per_update: int  # training steps (micro-batches) of one update

    @classmethod
    def of(cls, args: PPOConfig, num_processes: int, num_prompts: int) -> "Sizes":
        local = args.per_device_train_batch_size * args.gradient_accumulation_steps
        episodes = args.total_episodes or int(args.num_train_epochs * num_prompts)
        local_mini = local // args.num_mini_batches
        micro = min(args.per_device_train_batch_size, local_mini)
        return cls(
            local,
            local * num_processes,
            local_mini,
            micro,
            math.ceil(episodes / (local * num_processes)),
            args.num_ppo_epochs * args.num_mini_batches * (local_mini // micro),
        )


def problems(args: PPOConfig) -> list[str]:
    """What TRL 1.12 checked when its trainer started, found at parse time and said in the config's words."""
    found = []
    local = args.per_device_train_batch_size * args.gradient_accumulation_steps
    if args.stop_token and args.stop_token_id is not None:
        found.append("stop_token and stop_token_id: set one of them, not both.")
    if local % args.num_mini_batches:
        found.append(
            f"num_mini_batches: {args.num_mini_batches} does not divide the rollouts of an update per process "
            f"(per_device_train_batch_size x gradient_accumulation_steps = {local})."
        )
    elif (steps := Sizes.of(args, 1, 1)).micro_steps_per_update % args.gradient_accumulation_steps:
        found.append(
            f"num_mini_batches: {args.num_mini_batches} mini-batches of {steps.local_mini_batch} make "
            f"{steps.micro_steps_per_update} micro-batches per update, which gradient_accumulation_steps "
            f"{args.gradient_accumulation_steps} does not divide."
        )
    elif args.whiten_rewards and local // args.num_mini_batches < 8:
        found.append(
            f"whiten_rewards needs at least 8 rollouts per mini-batch and process; there are "
            f"{local // args.num_mini_batches}."
        )
    if args.max_steps > 0:
        found.append(
            "max_steps: PPO's length is total_episodes (or num_train_epochs over the prompts); remove max_steps."
        )
    return found


class PolicyAndValue(nn.Module):
    """The two trained models as one module: one optimizer, one DDP wrapper and one checkpoint hold both."""

    def __init__(self, policy, value_model):
        super().__init__()
        self.policy, self.value_model = policy, value_model

    def forward(self, input_ids, attention_mask, position_ids):
        backbone = getattr(self.value_model, self.value_model.base_model_prefix)
        hidden = backbone(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            output_hidden_states=True,
            use_cache=False,
        ).hidden_states[-1]
        values = self.value_model.score(hidden)
        logits = self.policy(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
        ).logits
        return logits, values

    @property
    def is_gradient_checkpointing(self) -> bool:
        return any(getattr(module, "gradient_checkpointing", False) for module in self.policy.modules())

    def gradient_checkpointing_enable(self, **kwargs):
        for model in (self.policy, self.value_model):
            model.gradient_checkpointing_enable(**kwargs)

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """What a checkpoint holds: the policy's adapter and the value model (the frozen weights load from disk)."""
        trainable = {name for name, param in self.named_parameters() if param.requires_grad}
        return {name: t.detach().contiguous() for name, t in self.state_dict().items() if name in trainable}

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Load a checkpoint's trainable tensors; only a trainable tensor it lacks counts as missing."""
        result = super().load_state_dict(state_dict, strict=False, assign=assign)
        trainable = {name for name, param in self.named_parameters() if param.requires_grad}
        result.missing_keys[:] = [key for key in result.missing_keys if key in trainable]
        return result


class RolloutPrompts(Sampler):
    """The prompts of each update on this process, once per micro-batch of the update (the Trainer's steps).

    Pass p over the prompts is shuffled by a generator seeded `first + p`, where `first` is drawn from
    the global RNG exactly as torch's RandomSampler draws its seed, so the first pass is TRL's. Each
    process takes its slice of a global batch, and rolls out from a seed of its own (TRL's rule).
    """

    def __init__(self, num_prompts: int, sizes: Sizes, seed: int, rank: int):
        self.num_prompts, self.sizes, self.seed, self.rank = num_prompts, sizes, seed, rank

    def __len__(self):
        return self.sizes.updates * self.sizes.micro_steps_per_update

    def __iter__(self):
        first = int(torch.empty((), dtype=torch.int64).random_().item())
        if self.rank:
            torch.manual_seed(self.seed + 100003 * self.rank)
        per_pass, order = self.num_prompts // self.sizes.batch, None
        for update in range(self.sizes.updates):
            done_passes, k = divmod(update, per_pass)
            if k == 0:
                order = torch.randperm(self.num_prompts, generator=torch.Generator().manual_seed(first + done_passes))
            start = k * self.sizes.batch + self.rank * self.sizes.local_batch
            prompts = order[start : start + self.sizes.local_batch].tolist()
            for _ in range(self.sizes.micro_steps_per_update):
                yield prompts


@dataclass
class Experience:
    """One update's rollouts and what PPO learns from them (OpenRLHF's shape): tensors over the local batch."""

    query_responses: torch.Tensor
    responses: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    padding_mask: torch.Tensor  # past the response's end
    padding_mask_p1: torch.Tensor  # past the response's end + 1 (values and their loss)
    context_length: int
    metrics: dict[str, torch.Tensor]


class _CountInUpdates(TrainerCallback):
    """`save_steps`, `logging_steps` and `eval_steps` count updates; the Trainer counts optimizer steps."""

    def __init__(self, steps_per_update: int, updates: int):
        self.steps_per_update, self.updates = steps_per_update, updates

    def on_train_begin(self, args, state, control, **kwargs):
        for kind in ("logging", "eval", "save"):
            every = getattr(args, f"{kind}_steps")
            if every is not None:
                every = math.ceil(self.updates * every) if every < 1 else int(every)
                setattr(state, f"{kind}_steps", every * self.steps_per_update)


class PPOTrainer(Trainer):
    """PPO with a value model and GAE: `training_step` rolls out at each update's first micro-batch,
    `compute_loss` is the clipped policy and value loss of one micro-batch (plus γ x ptx)."""

    loss_is_scaled_for_ga = False  # the Trainer divides the loss by the accumulation steps, as TRL's accelerator did

    def __init__(
        self,
        args: PPOConfig,
        processing_class,
        model,
        reward_model,
        value_model,
        train_dataset,
        peft_config=None,
        eval_dataset=None,
        ptx: PtxBatches | None = None,
        callbacks=None,
    ):
        if peft_config is not None:
            from peft import get_peft_model

            model = get_peft_model(model, peft_config)
        for module in (model, value_model, reward_model):
            disable_dropout_in_model(module)
        self.stop_token_id = stop_token_id(args, processing_class)
        model.generation_config.eos_token_id = self.stop_token_id
        super().__init__(
            model=PolicyAndValue(model, value_model),
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            callbacks=callbacks,
            data_collator=DataCollatorWithPadding(processing_class),
        )
        self.reward_model = reward_model.to(self.accelerator.device)
        self.sizes = Sizes.of(args, self.accelerator.num_processes, len(train_dataset))
        self.steps_per_update = self.sizes.micro_steps_per_update // args.gradient_accumulation_steps
        args.max_steps = self.sizes.updates * self.steps_per_update  # the Trainer's count: optimizer steps
        self.sample_every = max(1, self.sizes.updates // max(1, args.num_sample_generations))
        self.add_callback(_CountInUpdates(self.steps_per_update, self.sizes.updates))
        self.ptx, self.experience, self.micro_step, self.logged_updates = ptx, None, 0, []
        self.table_printed_after = 0  # the update whose sample table was printed last
        self.start_time = time.time()

    # -- data and schedule ------------------------------------------------------------------------------------------
    def get_train_dataloader(self) -> DataLoader:
        torch.manual_seed(self.args.seed)  # as TRL before its first pass: the prompt order and rollouts follow
        sampler = RolloutPrompts(len(self.train_dataset), self.sizes, self.args.seed, self.accelerator.process_index)
        return DataLoader(self.train_dataset, batch_sampler=sampler, collate_fn=self.data_collator)

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        """TRL's schedule: the learning rate moves once per update, over the updates."""
        per_update = super().create_scheduler(num_training_steps // self.steps_per_update, optimizer)
        if not hasattr(per_update, "lr_lambdas"):  # not a LambdaLR (e.g. reduce_lr_on_plateau): over optimizer steps
            self.lr_scheduler = None
            return super().create_scheduler(num_training_steps, optimizer)
        step = self.steps_per_update
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer or self.optimizer, [lambda s, f=f: f(s // step) for f in per_update.lr_lambdas]
        )
        return self.lr_scheduler

    # -- one micro-batch --------------------------------------------------------------------------------------------
    def training_step(self, model, inputs, num_items_in_batch=None):
        position = self.micro_step % self.sizes.micro_steps_per_update
        per_epoch = self.sizes.local_batch // self.sizes.micro_batch
        if position == 0:
            self._print_sample_table_due()
            self.experience = self.make_experience(inputs["input_ids"].to(self.accelerator.device))
        if position % per_epoch == 0:  # each PPO epoch shuffles the batch afresh
            self.order = np.random.permutation(self.sizes.local_batch)
        micro = position % per_epoch
        self.micro_rows = torch.as_tensor(
            self.order[micro * self.sizes.micro_batch : (micro + 1) * self.sizes.micro_batch]
        )
        loss = super().training_step(model, inputs, num_items_in_batch)
        self.micro_step += 1
        if position == self.sizes.micro_steps_per_update - 1:
            self.logged_updates.append(self._update_metrics())
        return loss

    @torch.no_grad()
    def make_experience(self, queries: torch.Tensor) -> Experience:
        """Roll out the policy on `queries`, score the responses, and compute rewards, advantages and returns."""
        args, pad_id = self.args, self.processing_class.pad_token_id
        context_length = queries.shape[1]
        generation = GenerationConfig(
            max_new_tokens=args.response_length,
            temperature=args.temperature + 1e-7,
            top_k=0.0,
            top_p=1.0,
            do_sample=True,
        )
        with unwrap_model_for_generation(
            self.model_wrapped, self.accelerator, gather_deepspeed3_params=args.ds3_gather_for_generation
        ) as unwrapped:
            chunks = [
                generate(unwrapped.policy, queries[i : i + args.local_rollout_forward_batch_size], pad_id, generation)
                for i in range(0, len(queries), args.local_rollout_forward_batch_size)
            ]
        width = max(query_response.shape[1] for query_response, _ in chunks)  # generation stops when all have ended
        query_responses = torch.cat([_pad_to(query_response, width, pad_id) for query_response, _ in chunks])
        logits = torch.cat([_pad_to(logits, width - context_length, 0) for _, logits in chunks])
        unwrapped = self.accelerator.unwrap_model(self.model)
        parts = []
        for start in range(0, len(queries), args.local_rollout_forward_batch_size):
            rows = slice(start, start + args.local_rollout_forward_batch_size)
            query_response, response = query_responses[rows], query_responses[rows, context_length:]
            logprob = selective_log_softmax(logits[rows], response)
            with unwrapped.policy.disable_adapter():  # the SFT model: the KL reference
                ref_logits = forward(unwrapped.policy, query_response, pad_id).logits[:, context_length - 1 : -1]
            ref_logprob = selective_log_softmax(ref_logits / (args.temperature + 1e-7), response)
            cut = (
                truncate_response(self.stop_token_id, pad_id, response) if self.stop_token_id is not None else response
            )
            sequence_length = first_true_indices(cut == pad_id) - 1
            value = score(unwrapped.value_model, query_response, pad_id)[:, context_length - 1 : -1].squeeze(-1)
            reward = score(self.reward_model, torch.cat((queries[rows], cut), 1), pad_id)
            reward = reward[torch.arange(len(reward)), sequence_length + context_length].squeeze(-1)
            parts.append((cut, logprob, ref_logprob, value, reward, sequence_length))
        cut, logprobs, ref_logprobs, values, scores, sequence_lengths = (torch.cat(part) for part in zip(*parts))
        responses = query_responses[:, context_length:]
        if args.missing_eos_penalty is not None:
            scores[~torch.any(cut == self.processing_class.eos_token_id, dim=-1)] -= args.missing_eos_penalty
        positions = torch.arange(responses.shape[1], device=responses.device).repeat(responses.shape[0], 1)
        padding_mask = positions > sequence_lengths.unsqueeze(1)
        padding_mask_p1 = positions > (sequence_lengths + 1).unsqueeze(1)
        logprobs = torch.masked_fill(logprobs, padding_mask, INVALID_LOGPROB)
        ref_logprobs = torch.masked_fill(ref_logprobs, padding_mask, INVALID_LOGPROB)
        values = torch.masked_fill(values, padding_mask_p1, 0)

        logr = ref_logprobs - logprobs
        kl = -logr if args.kl_estimator == "k1" else (logr.exp() - 1) - logr
        non_score_reward = -args.kl_coef * kl
        rewards = non_score_reward.clone()
        rows = torch.arange(rewards.size(0), device=rewards.device)
        last = torch.where(sequence_lengths + 1 < rewards.size(1), sequence_lengths + 1, sequence_lengths)
        rewards[rows, last] += scores  # the score at the last response token
        if args.whiten_rewards:
            rewards = torch.masked_fill(masked_whiten(rewards, ~padding_mask_p1, shift_mean=False), padding_mask_p1, 0)
        advantages = gae(rewards, values, args.gamma, args.lam)
        returns = advantages + values
        advantages = torch.masked_fill(masked_whiten(advantages, ~padding_mask), padding_mask, 0)
        metrics = {
            "kl": kl.sum(1).mean(),
            "entropy": ((-logprobs) * (~padding_mask).float()).sum(1).mean(),
            "non_score_reward": non_score_reward.sum(1).mean(),
            "scores": scores.mean(),
            "num_eos_tokens": (responses == self.processing_class.eos_token_id).sum(),
            "lr": torch.tensor(self.lr_scheduler.get_last_lr()[0]),
        }
        self.micro_stats = []
        return Experience(
            query_responses,
            responses,
            logprobs,
            values,
            advantages,
            returns,
            padding_mask,
            padding_mask_p1,
            context_length,
            metrics,
        )

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """The clipped policy loss plus `vf_coef` x the clipped value loss of this micro-batch (and γ x ptx)."""
        args, e, rows = self.args, self.experience, self.micro_rows.to(self.experience.responses.device)
        query_responses = e.query_responses[rows]
        logits, values = model(**forward_inputs(query_responses, self.processing_class.pad_token_id))
        logits = logits[:, e.context_length - 1 : -1] / (args.temperature + 1e-7)
        padding_mask, padding_mask_p1 = e.padding_mask[rows], e.padding_mask_p1[rows]
        new_logprobs = torch.masked_fill(
            selective_log_softmax(logits, e.responses[rows]), padding_mask, INVALID_LOGPROB
        )
        vpred = torch.masked_fill(values[:, e.context_length - 1 : -1].squeeze(-1), padding_mask_p1, 0)
        old_values, returns, advantages = e.values[rows], e.returns[rows], e.advantages[rows]
        vpred_clipped = torch.clamp(vpred, old_values - args.cliprange_value, old_values + args.cliprange_value)
        vf_losses1, vf_losses2 = torch.square(vpred - returns), torch.square(vpred_clipped - returns)
        vf_loss = 0.5 * masked_mean(torch.max(vf_losses1, vf_losses2), ~padding_mask_p1)
        logprobs_diff = new_logprobs - e.logprobs[rows]
        ratio = torch.exp(logprobs_diff)
        pg_losses = -advantages * ratio
        pg_losses2 = -advantages * torch.clamp(ratio, 1.0 - args.cliprange, 1.0 + args.cliprange)
        pg_loss = masked_mean(torch.max(pg_losses, pg_losses2), ~padding_mask)
        loss = pg_loss + args.vf_coef * vf_loss
        with torch.no_grad():
            probs = torch.nn.functional.softmax(logits, dim=-1)
            self.micro_stats.append(
                torch.stack(
                    [
                        0.5 * (logprobs_diff**2).mean(),
                        masked_mean((pg_losses2 > pg_losses).float(), ~padding_mask),
                        pg_loss,
                        vf_loss,
                        masked_mean((vf_losses2 > vf_losses1).float(), ~padding_mask_p1),
                        (torch.logsumexp(logits, dim=-1) - torch.sum(probs * logits, dim=-1)).mean(),
                        ratio.mean(),
                    ]
                )
            )
        if self.ptx is not None:
            self.ptx.taken = max(self.ptx.taken, self.state.global_step * args.gradient_accumulation_steps)
            ptx_loss = lm_loss(self.accelerator.unwrap_model(model).policy, self.ptx.next(loss.device))
            self.micro_stats[-1] = torch.cat([self.micro_stats[-1], ptx_loss.detach()[None]])
            loss = loss + args.ptx_coef * ptx_loss
        return loss

    # -- what is logged ---------------------------------------------------------------------------------------------
    def _update_metrics(self) -> dict[str, float]:
        """TRL's per-update figures, averaged over every process."""
        gather = self.accelerator.gather_for_metrics
        m, stats = self.experience.metrics, gather(torch.stack(self.micro_stats))
        update = (self.state.global_step + 1) // self.steps_per_update  # this step ends the update
        episode = update * self.sizes.batch
        figures = {
            "eps": int(episode / (time.time() - self.start_time)),
            "objective/kl": gather(m["kl"]).mean().item(),
            "objective/entropy": gather(m["entropy"]).mean().item(),
            "objective/non_score_reward": gather(m["non_score_reward"]).mean().item(),
            "objective/rlhf_reward": gather(m["non_score_reward"] + m["scores"]).mean().item(),
            "objective/scores": gather(m["scores"]).mean().item(),
        }
        names = (
            "policy/approxkl_avg",
            "policy/clipfrac_avg",
            "loss/policy_avg",
            "loss/value_avg",
            "val/clipfrac_avg",
            "policy/entropy_avg",
            "val/ratio",
        )
        figures |= {name: stats[:, i].mean().item() for i, name in enumerate(names)}
        figures |= {
            "val/ratio_var": stats[:, 6].var().item(),
            "val/num_eos_tokens": m["num_eos_tokens"].item(),
            "lr": m["lr"].item(),
            "episode": episode,
        }
        if self.ptx is not None:
            figures[LOSS_KEY] = stats[:, 7].mean().item()
        return figures

    def log(self, logs: dict, start_time: float | None = None) -> None:
        """The Trainer's log line, with the PPO figures of the updates since the last one (their mean)."""
        if self.logged_updates and "loss" in logs:
            updates, self.logged_updates = self.logged_updates, []
            logs |= {key: sum(u[key] for u in updates) / len(updates) for key in updates[-1]}
            logs["episode"] = updates[-1]["episode"]
            self.state.epoch = logs["episode"] / len(self.train_dataset)  # passes over the prompts, as TRL counts
        super().log(logs, start_time)

    # -- saving -----------------------------------------------------------------------------------------------------
    def save_model(self, output_dir: str | None = None, _internal_call: bool = False):
        """A checkpoint holds the adapter and the value model (`model.safetensors`, which the Trainer resumes from);
        the stage's final save is the policy's adapter."""
        output_dir = output_dir or self.args.output_dir
        unwrapped = self.accelerator.unwrap_model(self.model)
        if _internal_call and self.args.should_save:
            os.makedirs(output_dir, exist_ok=True)
            save_file(unwrapped.trainable_state_dict(), f"{output_dir}/{SAFE_WEIGHTS_NAME}", metadata={"format": "pt"})
        elif not _internal_call:
            model, self.model = self.model, unwrapped.policy  # the Trainer's own saving, of the policy alone
            try:
                super().save_model(output_dir, _internal_call)
            finally:
                self.model = model

    # -- sample tables ----------------------------------------------------------------------------------------------
    def train(self, *args, **kwargs):
        output = super().train(*args, **kwargs)
        self._print_sample_table_due()
        return output

    def _print_sample_table_due(self) -> None:
        """TRL's table after every `sample_every`-th update, printed before the next update's rollouts."""
        update = self.state.global_step // self.steps_per_update
        if self.args.num_sample_generations > 0 and self.eval_dataset is not None and update >= 1:
            if (update - 1) % self.sample_every == 0 and self.table_printed_after != update:
                self.table_printed_after = update
                self.print_sample_table()

    @torch.no_grad()
    def print_sample_table(self) -> None:
        """Near-greedy responses (temperature 0.01) to the first evaluation prompts, with their reward."""
        from accelerate.utils import gather_object

        pad_id = self.processing_class.pad_token_id
        generation = GenerationConfig(
            max_new_tokens=self.args.response_length, temperature=0.01 + 1e-7, top_k=0.0, top_p=1.0, do_sample=True
        )
        rows = range(min(self.args.per_device_eval_batch_size, len(self.eval_dataset)))
        batch = self.data_collator([self.eval_dataset[row] for row in rows])
        query = batch["input_ids"].to(self.accelerator.device)
        with unwrap_model_for_generation(
            self.model_wrapped, self.accelerator, gather_deepspeed3_params=self.args.ds3_gather_for_generation
        ) as unwrapped:
            query_response, _ = generate(unwrapped.policy, query, pad_id, generation)
        response = query_response[:, query.shape[1] :]
        if self.stop_token_id is not None:
            response = truncate_response(self.stop_token_id, pad_id, response)
        reward = score(self.reward_model, torch.cat((query, response), 1), pad_id)
        last = first_true_indices(response == pad_id) - 1 + query.shape[1]
        rows = zip(
            gather_object(self.processing_class.batch_decode(query, skip_special_tokens=True)),
            gather_object(self.processing_class.batch_decode(response)),
            self.accelerator.gather_for_metrics(reward[torch.arange(len(reward)), last].squeeze(-1)).tolist(),
        )
        if self.accelerator.is_main_process:
            from rich.console import Console
            from rich.table import Table

            table = Table("query", "model response", "score", show_lines=True)
            for query_text, response_text, value in list(rows)[:5]:
                table.add_row(query_text, response_text, f"{value:.4f}")
            Console().print(table)


def stop_token_id(args: PPOConfig, tokenizer) -> int | None:
    """The token id responses end at: `stop_token` ('eos' or a token of the vocabulary) or `stop_token_id`."""
    if args.stop_token == "eos":
        return tokenizer.eos_token_id
    return tokenizer.get_vocab()[args.stop_token] if args.stop_token else args.stop_token_id


def forward_inputs(query_responses: torch.Tensor, pad_token_id: int) -> dict[str, torch.Tensor]:
    """Token ids as a causal model reads them: padding masked out (id 0), positions counted over real tokens."""
    attention_mask = query_responses != pad_token_id
    position_ids = attention_mask.cumsum(1) - attention_mask.long()
    return {
        "input_ids": torch.masked_fill(query_responses, ~attention_mask, 0),
        "attention_mask": attention_mask,
        "position_ids": position_ids,
    }


def forward(model, query_responses: torch.Tensor, pad_token_id: int):
    return model(**forward_inputs(query_responses, pad_token_id), use_cache=False)


def score(model, query_responses: torch.Tensor, pad_token_id: int) -> torch.Tensor:
    """A sequence classifier's head at every position (a reward or value model), as TRL's `get_reward` reads it."""
    backbone = getattr(model, model.base_model_prefix)
    output = backbone(**forward_inputs(query_responses, pad_token_id), output_hidden_states=True, use_cache=False)
    return model.score(output.hidden_states[-1])


def generate(policy, queries: torch.Tensor, pad_token_id: int, generation: GenerationConfig):
    """(queries + sampled responses, the logits each response token was sampled from)."""
    attention_mask = queries != pad_token_id
    output = policy.generate(
        input_ids=torch.masked_fill(queries, ~attention_mask, 0),
        attention_mask=attention_mask,
        generation_config=generation,
        return_dict_in_generate=True,
        output_scores=True,
    )
    return torch.cat((queries, output.sequences[:, queries.shape[1] :]), dim=1), torch.stack(output.scores, 1)


def first_true_indices(bools: torch.Tensor) -> torch.Tensor:
    """Per row, the index of the first True (the row's length where there is none)."""
    length = bools.size(-1)
    return torch.min(length * (~bools).long() + torch.arange(length, device=bools.device), dim=-1).values


def truncate_response(stop_token_id: int, pad_token_id: int, responses: torch.Tensor) -> torch.Tensor:
    """Responses with every token after the first stop token replaced by padding."""
    cut = first_true_indices(responses == stop_token_id).unsqueeze(-1)
    return torch.masked_fill(responses, torch.arange(responses.shape[1], device=responses.device) > cut, pad_token_id)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum()


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """(values - mean) / std over the masked entries (unbiased variance); the mean kept when not `shift_mean`."""
    mean = masked_mean(values, mask)
    variance = masked_mean((values - mean) ** 2, mask) * (mask.sum() / (mask.sum() - 1))
    whitened = (values - mean) * torch.rsqrt(variance + 1e-8)
    return whitened if shift_mean else whitened + mean


def gae(rewards: torch.Tensor, values: torch.Tensor, gamma: float, lam: float) -> torch.Tensor:
    """Generalized advantage estimation over the response tokens, from the last token back."""
    last, advantages = 0, []
    for t in reversed(range(rewards.shape[1])):
        next_value = values[:, t + 1] if t < rewards.shape[1] - 1 else 0.0
        last = rewards[:, t] + gamma * next_value - values[:, t] + gamma * lam * last
        advantages.append(last)
    return torch.stack(advantages[::-1], dim=1)


def _pad_to(tensor: torch.Tensor, width: int, value) -> torch.Tensor:
    """`tensor` right-padded with `value` to `width` along its second dimension."""
    return torch.nn.functional.pad(tensor, (0, 0) * (tensor.dim() - 2) + (0, width - tensor.shape[1]), value=value)
