"""PPO-ptx (InstructGPT): each policy update also lowers the language-model loss on plain text, `ptx_coef` times
(`PtxSettings`, `PtxBatches`, `PtxLoss`); `mean_lm_loss` measures the alignment tax (docs/ptx.md)."""

from dataclasses import dataclass, field

import torch

from rlhf_recipes.common import files, formats
from rlhf_recipes.common.arguments import Checked
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import get_logger

logger = get_logger(__name__)
LOSS_KEY = "ptx/lm_loss"  # logged at each logging step while γ > 0


@dataclass
class PtxSettings(Checked):
    """γ and the text of PPO-ptx, for a third stage's training config."""

    ptx_coef: float = field(
        default=0.0,
        metadata={
            "help": "PPO-ptx's γ: each update adds this times the language-model loss of a batch "
            "of `ptx_dataset`, so the policy keeps its plain-text skill. 0 (default): off."
        },
    )
    ptx_dataset: str | None = field(
        default=None,
        metadata={
            "help": "The ptx text: a file or dataset in an SFT format (a `text` column, or "
            "prompt/response pairs, shown as the SFT stage trained on them)."
        },
    )
    ptx_dataset_split: str = field(default="train", metadata={"help": "The split of `ptx_dataset` to read."})
    ptx_batch_size: int | None = field(
        default=None, metadata={"help": "Texts per ptx batch, per process. Default: per_device_train_batch_size."}
    )
    ptx_max_length: int = field(default=128, metadata={"help": "Longer ptx texts are cut to this many tokens."})

    def problems(self) -> list[str]:
        found = super().problems()
        if self.ptx_coef < 0:
            found.append(f"ptx_coef: expected 0 (off) or a positive weight, got {self.ptx_coef}.")
        if self.ptx_coef > 0 and not self.ptx_dataset:
            found.append(
                f"ptx_coef: {self.ptx_coef} needs the text to mix in: set ptx_dataset (plain text in a "
                "`text` column, or the SFT data)."
            )
        if self.ptx_batch_size is not None and self.ptx_batch_size < 1:
            found.append(f"ptx_batch_size: expected a positive number of texts, got {self.ptx_batch_size}.")
        return found


def load_texts(dataset: str, split: str, prompt_format, tokenizer, max_length: int) -> list[list[int]]:
    """The token ids of each text of `dataset` (a `text` row as it is, a prompt/completion row in the model's
    prompt format), each ending with eos and cut to `max_length` tokens; how many were cut is said."""
    source = f"{dataset} [{split}]"
    rows = formats.to_sft_examples(files.load_rows(dataset, split), source)
    if "text" in rows.column_names:
        texts = [text + tokenizer.eos_token for text in rows["text"]]
    else:
        texts = [
            prompt_format.render(tokenizer, prompt, c[-1]["content"] if isinstance(c, list) else c)
            for prompt, c in zip(rows["prompt"], rows["completion"])
        ]
    ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    cut = sum(len(example) > max_length for example in ids)
    if cut:
        logger.info(f"{source}: {cut} of {len(ids)} texts are longer than {max_length} tokens and were cut to it.")
    return [example[:max_length] for example in ids]


class PtxBatches:
    """Batch after batch of texts for the ptx loss; each process takes its own share of every pass.

    The k-th batch is the same on every run (pass k // batches_per_pass is shuffled with seed + pass), so a
    resumed run goes on where it stood from `taken` alone.
    """

    def __init__(
        self,
        examples: list[list[int]],
        batch_size: int,
        pad_token_id: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.per_pass = len(examples) // (batch_size * world_size)
        if self.per_pass == 0:
            raise RecipeError(
                f"ptx_dataset: {len(examples)} texts, fewer than one batch on each of {world_size} "
                f"process(es) (ptx_batch_size {batch_size}); add text or lower ptx_batch_size."
            )
        self.examples, self.batch_size, self.pad_token_id, self.seed = examples, batch_size, pad_token_id, seed
        self.rank, self.world_size, self.taken = rank, world_size, 0

    def next(self, device) -> dict[str, torch.Tensor]:
        """The next batch, right-padded: input_ids, attention_mask, and labels (-100 on padding)."""
        passes, index = divmod(self.taken, self.per_pass)
        self.taken += 1
        order = torch.randperm(len(self.examples), generator=torch.Generator().manual_seed(self.seed + passes))
        start = (index * self.world_size + self.rank) * self.batch_size
        return pad(
            [self.examples[i] for i in order[start : start + self.batch_size].tolist()], self.pad_token_id, device
        )


def pad(examples: list[list[int]], pad_token_id: int, device) -> dict[str, torch.Tensor]:
    """Token id lists as one right-padded batch with causal-LM labels."""
    longest = max(len(example) for example in examples)
    input_ids = torch.full((len(examples), longest), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    for row, example in enumerate(examples):
        input_ids[row, : len(example)], attention_mask[row, : len(example)] = torch.tensor(example), 1
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    return {
        name: t.to(device)
        for name, t in (("input_ids", input_ids), ("attention_mask", attention_mask), ("labels", labels))
    }


def lm_loss(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The mean next-token loss of a batch (`pad`'s), with the graph for back-propagation."""
    return model(**batch, use_cache=False).loss


@torch.no_grad()
def mean_lm_loss(model, examples: list[list[int]], pad_token_id: int, batch_size: int = 32) -> float:
    """A model's language-model loss on `examples`, in nats per predicted token (exp of it: the perplexity)."""
    total, tokens = 0.0, 0
    for start in range(0, len(examples), batch_size):
        batch = pad(examples[start : start + batch_size], pad_token_id, model.device)
        predicted = int((batch["labels"][:, 1:] != -100).sum())
        total, tokens = total + lm_loss(model, batch).item() * predicted, tokens + predicted
    return total / tokens


def batches(training_args, prompt_format, tokenizer) -> PtxBatches | None:
    """The ptx batches of a stage's config, or None when `ptx_coef` is 0 (nothing is read)."""
    from accelerate import PartialState

    if not training_args.ptx_coef:
        return None
    state = PartialState()
    examples = load_texts(
        training_args.ptx_dataset,
        training_args.ptx_dataset_split,
        prompt_format,
        tokenizer,
        training_args.ptx_max_length,
    )
    size = training_args.ptx_batch_size or training_args.per_device_train_batch_size
    logger.info(
        f"PPO-ptx: γ = {training_args.ptx_coef} × the language-model loss of {size} texts per update and "
        f"process, from {len(examples)} texts of {training_args.ptx_dataset}."
    )
    return PtxBatches(
        examples, size, tokenizer.pad_token_id, training_args.seed, state.process_index, state.num_processes
    )


class PtxLoss:
    """For TRL's RLOO and GRPO trainers: `compute_loss` plus γ × the LM loss of the next ptx batch (`ptx=`).

    Their loss is built in `compute_loss`, which the Trainer back-propagates (scaled for gradient
    accumulation like the rest of it): overriding it is the one hook needed. The LM loss runs through
    the unwrapped model, so under DDP the single backward still averages the summed gradient over
    processes. Without `ptx` nothing changes.
    """

    def __init__(self, *args, ptx: PtxBatches | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.ptx = ptx

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if self.ptx is None or not model.training:
            return loss
        # a resumed run goes on with the batch it stood at (a fresh one counts up from 0 as it steps)
        self.ptx.taken = max(self.ptx.taken, self.state.global_step * self.args.gradient_accumulation_steps)
        ptx_loss = lm_loss(self.accelerator.unwrap_model(model), self.ptx.next(loss.device))
        self._metrics["train"][LOSS_KEY].append(self.accelerator.gather(ptx_loss.detach()).mean().item())
        return loss + self.args.ptx_coef * ptx_loss
