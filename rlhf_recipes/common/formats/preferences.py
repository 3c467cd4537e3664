"""Preferences in any format of `PREFERENCE_FORMATS` -> `prompt` / `chosen` / `rejected` rows, counting what is
dropped; `split_by_prompt` holds out prompts for the held-out figures. The formats: docs/data-formats.md."""

import hashlib
import json
import os
from collections import Counter
from itertools import combinations

from datasets import Dataset

from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.formats.shared import (
    HH_LAYOUT,
    Format,
    canonical_columns,
    find_format,
    prompt_turns,
    rename_columns,
    report_dropped,
    transcript_prompt_length,
)
from rlhf_recipes.common.logs import get_logger

logger = get_logger(__name__)

UNSHARED = "chosen and rejected share no prompt ending in 'Assistant:'"


def to_preference_pairs(rows: Dataset, source: str, column_mapping: dict | None = None) -> Dataset:
    """The pairs of each row; a format's converter gives, for what it cannot use, the reason (counted, reported)."""
    rows = canonical_columns(rename_columns(rows, column_mapping, source))
    form, columns = find_format(PREFERENCE_FORMATS, rows, source, "unknown preference format")
    pairs, dropped, first = [], Counter(), {}
    for index, row in enumerate(rows):
        for out in form.convert(row, columns, f"{source}, row {index + 1}"):
            if isinstance(out, str):
                dropped[out] += 1
                first.setdefault(out, index + 1)
            else:
                pairs.append(out)
    made = len(pairs) + sum(dropped.values())
    dropped = Counter({f"{reason} (the first: row {first[reason]})": count for reason, count in dropped.items()})
    kept = [pair for pair in pairs if pair["chosen"] != pair["rejected"]]
    dropped["chosen identical to rejected"] = len(pairs) - len(kept)
    logger.info(f"{source}: read {len(rows)} rows ({form.name}), made {made} pairs.")
    report_dropped(dropped, made, source)
    if not kept and UNSHARED in first:
        raise RecipeError(
            f"{source}, row {first[UNSHARED]}: {UNSHARED}, and no pair is left to train on. Give a `prompt` column "
            f"or transcripts in the {HH_LAYOUT} layout."
        )
    if not kept:
        raise RecipeError(f"{source}: every pair is a tie or has chosen identical to rejected; nothing to train on.")
    return Dataset.from_list(kept)


def _prompted_pair(row: dict, columns: list, where: str) -> list[dict]:
    """Text or chat turns; chat turns that repeat the prompt (UltraFeedback) keep only the replies."""
    chosen, rejected = row["chosen"], row["rejected"]
    if isinstance(chosen, list) and isinstance(rejected, list):
        if chosen and rejected and chosen[0] == rejected[0]:
            return [split_transcripts(chosen, rejected)]
        return [{"prompt": prompt_turns(row["prompt"]), "chosen": chosen, "rejected": rejected}]
    return [{"prompt": row["prompt"], "chosen": chosen, "rejected": rejected}]


def _transcript_pair(row: dict, columns: list, where: str) -> list[dict | str]:
    chosen, rejected = row["chosen"], row["rejected"]
    if {type(chosen), type(rejected)} not in ({str}, {list}):  # e.g. an empty cell (None)
        raise RecipeError(
            f"{where}: `chosen` and `rejected` must both be transcripts (text) or both chat turns, found "
            f"{type(chosen).__name__} and {type(rejected).__name__}. Fill in or remove the row."
        )
    pair = split_transcripts(chosen, rejected)
    return [UNSHARED if pair is None else pair]


def split_transcripts(chosen, rejected) -> dict | None:
    """Two conversations sharing their prompt -> prompt / chosen / rejected: chat turns after their longest common
    run (TRL's `extract_prompt`, which leaves each side a turn at least), HH text after its last shared `Assistant:`
    (None if there is none), so prompt + reply is the transcript."""
    if isinstance(chosen, list) and isinstance(rejected, list):
        from trl import extract_prompt

        if not (chosen and rejected):  # extract_prompt needs a turn on each side
            return {"prompt": [], "chosen": chosen, "rejected": rejected}
        return extract_prompt({"chosen": chosen, "rejected": rejected})
    end = transcript_prompt_length(os.path.commonprefix([chosen, rejected]))
    return {"prompt": chosen[:end], "chosen": chosen[end:], "rejected": rejected[end:]} if end else None


def _ranked_columns(names: list[str]) -> list[str] | None:
    """A `responses` list, or two or more `*response*` columns (best first), beside a `prompt`."""
    ranked = ["responses"] if "responses" in names else [c for c in names if "response" in c and c != "prompt"]
    return ranked if "prompt" in names and (ranked == ["responses"] or len(ranked) >= 2) else None


def _ranking_to_pairs(row: dict, columns: list[str], where: str) -> list[dict | str]:
    """A K-way ranking (best first) -> all K(K-1)/2 (better, worse) pairs; an optional `ties` cell names rank
    positions that are equally good ("2=3", several groups separated by spaces): their pairs are counted, not used."""
    ranked = row["responses"] if columns == ["responses"] else [row[c] for c in columns]
    tied = _tie_groups(row.get("ties"), len(ranked or []), where)
    ranked = [(r, tied.get(i, i)) for i, r in enumerate(ranked or []) if r is not None and str(r).strip()]
    if len(ranked) < 2:
        raise RecipeError(f"{where}: a ranking needs at least two responses, found {len(ranked)}.")
    return [
        {"prompt": row["prompt"], "chosen": better, "rejected": worse} if group_b != group_w else "tied ranks"
        for (better, group_b), (worse, group_w) in combinations(ranked, 2)
    ]


def _tie_groups(cell, size: int, where: str) -> dict[int, int]:
    """{position: its group's first position} of the `ties` cell (positions 0-based); empty cell: no ties."""
    groups = {}
    for group in str(cell or "").split():
        try:
            positions = [int(p) - 1 for p in group.split("=")]
        except ValueError:
            positions = []
        if len(positions) < 2 or not all(0 <= p < size for p in positions):
            raise RecipeError(
                f"{where}: ties {cell!r}: expected rank positions 1-{size} joined by '=' (\"2=3\"), "
                "several groups separated by spaces."
            )
        groups |= {p: min(positions) for p in positions}
    return groups


def _scored_columns(names: list[str]) -> list[tuple[str, str]] | None:
    """Two or more (`answer_i`, `score_i`) columns."""
    scored = [(f"answer_{i}", f"score_{i}") for i in range(len(names))]
    scored = [(answer, score) for answer, score in scored if answer in names and score in names]
    return scored if len(scored) >= 2 else None


def _scores_to_pairs(row: dict, columns: list[tuple[str, str]], where: str) -> list[dict | str]:
    """Scored answers -> pairs, the higher score chosen; a tie gives its reason, to be counted."""
    prompt = row.get("prompt", row.get("question"))
    if isinstance(prompt, dict):  # WebGPT: {"full_text": ...}
        prompt = prompt.get("full_text")
    if prompt is None:
        raise RecipeError(f"{where}: scored answers need a `prompt` or `question` column.")
    answers = [(row[a], float(row[s])) for a, s in columns]
    pairs = []
    for (answer_i, score_i), (answer_j, score_j) in combinations(answers, 2):
        if score_i == score_j:
            pairs.append("tied scores")
        else:
            better, worse = (answer_i, answer_j) if score_i > score_j else (answer_j, answer_i)
            pairs.append({"prompt": prompt, "chosen": better, "rejected": worse})
    return pairs


# In order: the first format whose columns are there is the one read.
PREFERENCE_FORMATS = (
    Format("prompt/chosen/rejected", ("prompt", "chosen", "rejected"), _prompted_pair, "text or chat turns"),
    Format(
        "chosen/rejected transcripts",
        ("chosen", "rejected"),
        _transcript_pair,
        "whole transcripts sharing their prompt, Anthropic HH",
    ),
    Format(
        "ranked responses",
        ("prompt", "*response*", "responses"),
        _ranking_to_pairs,
        "two or more `*response*` columns best first, or a `responses` list; optional `ties`",
        find=_ranked_columns,
    ),
    Format(
        "scored answers",
        ("answer_0", "answer_1", "score_0", "score_1"),
        _scores_to_pairs,
        "and more pairs, with `prompt` or `question`, WebGPT",
        find=_scored_columns,
    ),
)


def split_by_prompt(rows: Dataset, eval_fraction: float) -> tuple[Dataset, Dataset]:
    """(train, held-out): the prompts whose hash falls below `eval_fraction` held out (the same on every process);
    with `eval_fraction` > 0 and two prompts or more, at least one is held out, and never all of them."""
    keys = [json.dumps(prompt, sort_keys=True) for prompt in rows["prompt"]]
    hashes = {key: int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64 for key in set(keys)}
    held = {key for key, value in hashes.items() if value < eval_fraction}
    if not held and eval_fraction > 0 and len(hashes) > 1:
        held = {min(hashes, key=hashes.get)}
    if held and len(held) == len(hashes):
        held.remove(max(held, key=hashes.get))
    train = [i for i, key in enumerate(keys) if key not in held]
    held_out = [i for i, key in enumerate(keys) if key in held]
    return rows.select(train), rows.select(held_out)
