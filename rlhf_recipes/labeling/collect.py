"""Collect: sample K responses per prompt from one or more policies, each as its stage sampled in training, into a
shuffled ranking sheet (`rlhf-recipes collect`; docs/human-in-the-loop.md, "The loop, by hand")."""

import random
from dataclasses import dataclass, field

from rlhf_recipes.common import artifacts, files, formats
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import get_logger
from rlhf_recipes.common.parsing import RecipeParser
from rlhf_recipes.evaluation import sampling
from rlhf_recipes.labeling import sheet as sheets

logger = get_logger(__name__)


@dataclass
class CollectArguments:
    """Which policies to sample, on which prompts, into which sheet."""

    policy: list[str] = field(metadata={"help": "One or more policies: stage output folders or full models."})
    prompts: str = field(metadata={"help": "A file or dataset with prompts (any prompt format of the report's)."})
    output: str = field(metadata={"help": "The sheet to write (.jsonl); its answers and rankings go beside it."})
    num_responses: int = field(default=4, metadata={"help": "Responses per row (K of the K-way ranking)."})
    rows_per_prompt: int = field(default=1, metadata={"help": "Rows per distinct prompt, each with new samples."})
    max_prompts: int | None = field(default=None, metadata={"help": "Use only the first N distinct prompts."})
    split: str = field(default="train", metadata={"help": "The dataset's split to read (a single file has one)."})
    max_new_tokens: int | None = field(default=None, metadata={"help": "Default: as each policy saved, else 32."})
    temperature: float | None = field(default=None, metadata={"help": "Default: as each policy saved, else 0.7."})
    max_attempts: int = field(default=4, metadata={"help": "Sampling rounds to fill a row with distinct responses."})
    seed: int = field(default=0, metadata={"help": "Sampling and shuffling seed."})

    def __post_init__(self):
        if isinstance(self.policy, str):
            self.policy = [self.policy]
        problems = [
            f"{name}: expected at least {least}, got {value}."
            for name, value, least in (
                ("num_responses", self.num_responses, 2),
                ("rows_per_prompt", self.rows_per_prompt, 1),
                ("max_attempts", self.max_attempts, 1),
            )
            if value < least
        ]
        if not self.output.endswith(".jsonl"):
            problems.append(f"output: {self.output!r}: a sheet is a .jsonl file.")
        if problems:
            raise ValueError(" ".join(problems))


def main(args: CollectArguments) -> sheets.Sheet:
    """Sample, deduplicate, shuffle and write the sheet; returns it."""
    prompts = formats.to_prompts(files.load_rows(args.prompts, args.split), args.prompts)[: args.max_prompts]
    slots = [p for p in prompts for _ in range(args.rows_per_prompt)]
    rows: list[list[dict]] = [[] for _ in slots]
    quota = [len(range(i, args.num_responses, len(args.policy))) for i in range(len(args.policy))]
    for index, path in enumerate(args.policy):
        policy_dir = artifacts.model_folder(path, "policy")
        settings = sampling.settings([policy_dir], args.max_new_tokens, args.temperature)
        model = sampling.load_policy(policy_dir)
        for attempt in range(args.max_attempts):
            wanting = [i for i, row in enumerate(rows) for _ in range(quota[index] - _count(row, path))]
            if not wanting:
                break
            seed = args.seed + 1000 * index + attempt
            logger.info(
                f"collect: {len(wanting)} responses from {path} (attempt {attempt + 1}, seed {seed}, {settings})"
            )
            texts = sampling.generate(*model, [slots[i] for i in wanting], **settings, seed=seed)
            for i, text in zip(wanting, texts):
                if _count(rows[i], path) < quota[index] and text not in {r["text"] for r in rows[i]}:
                    rows[i].append({"text": text, "policy": path, "seed": seed, **settings})
    rng = random.Random(args.seed)
    full = [(prompt, row) for prompt, row in zip(slots, rows) if len(row) == args.num_responses]
    if len(full) < len(slots):
        logger.warning(
            f"collect: left out {len(slots) - len(full)} of {len(slots)} rows: fewer than "
            f"{args.num_responses} distinct responses after {args.max_attempts} attempts (raise "
            "max_attempts or temperature, or lower num_responses)."
        )
    if not full:
        raise RecipeError(
            f"collect: no row has {args.num_responses} distinct responses; the policies "
            f"{args.policy} repeat themselves at these settings."
        )
    rng.shuffle(full)
    for _, row in full:
        rng.shuffle(row)
    sheet = sheets.write(
        args.output,
        [{"id": f"r{n:05d}", "prompt": prompt, "responses": row} for n, (prompt, row) in enumerate(full, 1)],
    )
    logger.info(
        f"collect: {len(sheet.rows)} rows x {args.num_responses} responses in {sheet.path}; rank them with "
        f"`rlhf-recipes label {sheet.path}`."
    )
    return sheet


def _count(row: list[dict], policy: str) -> int:
    return sum(r["policy"] == policy for r in row)


def make_parser() -> RecipeParser:
    return RecipeParser((CollectArguments,))
