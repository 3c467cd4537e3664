"""Preference data in every common shape -> `prompt` / `chosen` / `rejected` pairs, and the held-out split.

Shapes, recognized from the columns: prompt/chosen/rejected (text or chat; TL;DR comparisons too),
chosen/rejected transcripts sharing their prompt (Anthropic HH), K-way rankings best first (all
K(K-1)/2 pairs), and scored answers (WebGPT; ties dropped). Every dropped pair is counted.
"""

import hashlib
import json
from collections import Counter

from datasets import Dataset

from rlhf_recipes.data import TRANSCRIPT_ASSISTANT, canonical_columns, prompt_turns, rename_columns, report_dropped
from rlhf_recipes.errors import RecipeError
from rlhf_recipes.logs import get_logger

logger = get_logger(__name__)



def ranked_columns(columns: list[str]) -> list[str]:
    """Columns that hold ranked responses, best first: `responses` (a list) or several `*response*` columns."""
    if "responses" in columns:
        return ["responses"]
    return [c for c in columns if "response" in c and c != "prompt"]


def score_columns(columns: list[str]) -> list[tuple[str, str]]:
    """(answer_i, score_i) column pairs, WebGPT style."""
    return [(f"answer_{i}", f"score_{i}") for i in range(len(columns)) if {f"answer_{i}", f"score_{i}"} <= set(columns)]


def preference_format(rows: Dataset, source: str) -> str:
    columns = rows.column_names
    if {"chosen", "rejected"} <= set(columns):
        return "prompt/chosen/rejected" if "prompt" in columns else "chosen/rejected transcripts"
    if "prompt" in columns and (columns.count("responses") or len(ranked_columns(columns)) >= 2):
        return "ranked responses"
    if len(score_columns(columns)) >= 2:
        return "scored answers"
    raise RecipeError(
        f"{source}: unknown preference format. Columns found: {rows.column_names}. Expected one of — "
        "prompt, chosen, rejected; chosen, rejected (full transcripts); prompt plus two or more ranked response "
        "columns, best first (or a `responses` list); answer_0, answer_1, score_0, score_1 (with prompt or "
        "question). Use `column_mapping` in the YAML to rename other columns."
    )


def to_preference_pairs(rows: Dataset, source: str, column_mapping: dict | None = None) -> Dataset:
    """Preferences in any accepted format -> `prompt` / `chosen` / `rejected` rows, counting what is dropped."""
    rows = canonical_columns(rename_columns(rows, column_mapping, source))
    kind = preference_format(rows, source)
    pairs: list[dict] = []
    dropped: Counter = Counter()
    for index, row in enumerate(rows):
        where = f"{source}, row {index + 1}"
        if kind == "prompt/chosen/rejected":
            pairs.append(prompted_pair(row, where))
        elif kind == "chosen/rejected transcripts":
            pairs.append(split_transcripts(row["chosen"], row["rejected"], where))
        elif kind == "ranked responses":
            pairs += ranking_to_pairs(row, where)
        else:
            pairs += scores_to_pairs(row, where, dropped)
    kept = [p for p in pairs if p["chosen"] != p["rejected"]]
    if len(kept) < len(pairs):
        dropped["chosen identical to rejected"] += len(pairs) - len(kept)
    made = len(pairs) + dropped["tied scores"]
    logger.info(f"{source}: read {len(rows)} rows ({kind}), made {made} pairs.")
    report_dropped(dropped, made, source)
    if not kept:
        raise RecipeError(f"{source}: every pair is a tie or has chosen identical to rejected; nothing to train on.")
    return Dataset.from_list(kept)


def prompted_pair(row: dict, where: str) -> dict:
    """A prompt/chosen/rejected row; chat turns that repeat the prompt (UltraFeedback) keep only the replies."""
    chosen, rejected = row["chosen"], row["rejected"]
    if isinstance(chosen, list) and isinstance(rejected, list):
        if chosen and rejected and chosen[0] == rejected[0]:
            return split_transcripts(chosen, rejected, where)
        return {"prompt": prompt_turns(row["prompt"]), "chosen": chosen, "rejected": rejected}
    return {"prompt": row["prompt"], "chosen": chosen, "rejected": rejected}


def ranking_to_pairs(row: dict, where: str) -> list[dict]:
    """A K-way ranking (best first) -> all K(K-1)/2 (better, worse) pairs."""
    columns = ranked_columns(list(row))
    ranked = row["responses"] if columns == ["responses"] else [row[c] for c in columns]
    ranked = [r for r in (ranked or []) if r is not None and str(r).strip()]
    if len(ranked) < 2:
        raise RecipeError(f"{where}: a ranking needs at least two responses, found {len(ranked)}.")
    return [
        {"prompt": row["prompt"], "chosen": better, "rejected": worse}
        for i, better in enumerate(ranked)
        for worse in ranked[i + 1 :]
    ]


def scores_to_pairs(row: dict, where: str, dropped: Counter) -> list[dict]:
    """Scored answers -> pairs, the higher score chosen; ties are dropped and counted."""
    prompt = row.get("prompt", row.get("question"))
    if isinstance(prompt, dict):  # WebGPT: {"full_text": ...}
        prompt = prompt.get("full_text")
    if prompt is None:
        raise RecipeError(f"{where}: scored answers need a `prompt` or `question` column.")
    answers = [(row[a], float(row[s])) for a, s in score_columns(list(row))]
    pairs = []
    for i, (answer_i, score_i) in enumerate(answers):
        for answer_j, score_j in answers[i + 1 :]:
            if score_i == score_j:
                dropped["tied scores"] += 1
                continue
            better, worse = (answer_i, answer_j) if score_i > score_j else (answer_j, answer_i)
            pairs.append({"prompt": prompt, "chosen": better, "rejected": worse})
    return pairs


def split_transcripts(chosen: str, rejected: str, where: str) -> dict:
    """Two full transcripts that share their prompt -> the prompt up to the last shared `Assistant:` turn.

    Chat transcripts (lists of turns) split after their longest common run of turns.
    """
    if isinstance(chosen, list) and isinstance(rejected, list):
        shared = 0
        while shared < min(len(chosen), len(rejected)) - 1 and chosen[shared] == rejected[shared]:
            shared += 1
        return {"prompt": chosen[:shared], "chosen": chosen[shared:], "rejected": rejected[shared:]}
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
        shared += 1
    cut = chosen.rfind(TRANSCRIPT_ASSISTANT, 0, shared + len(TRANSCRIPT_ASSISTANT))
    if cut < 0 or cut + len(TRANSCRIPT_ASSISTANT) > shared:
        raise RecipeError(
            f"{where}: chosen and rejected share no prompt ending in {TRANSCRIPT_ASSISTANT.strip()!r}; "
            "give a `prompt` column or transcripts in the '\\n\\nHuman: ...\\n\\nAssistant: ...' layout."
        )
    end = cut + len(TRANSCRIPT_ASSISTANT)
    return {"prompt": chosen[:end], "chosen": chosen[end:], "rejected": rejected[end:]}  # " reply": reads on from "Assistant:"


def preferences_as_chat(rows: Dataset) -> Dataset:
    """Plain-text preference pairs -> chat turns (HH transcripts become their turns)."""
    if len(rows) == 0 or isinstance(rows[0]["prompt"], list):
        return rows

    def to_chat(row):
        return {
            "prompt": prompt_turns(row["prompt"]),
            "chosen": [{"role": "assistant", "content": row["chosen"].strip()}],
            "rejected": [{"role": "assistant", "content": row["rejected"].strip()}],
        }

    return rows.map(to_chat)


def split_by_prompt(rows: Dataset, eval_fraction: float) -> tuple[Dataset, Dataset]:
    """Hold out `eval_fraction` of the prompts (by a hash of their text: deterministic, the same on every rank)."""
    def held_out(prompt) -> bool:
        digest = hashlib.sha256(json.dumps(prompt, sort_keys=True).encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < eval_fraction

    flags = [held_out(p) for p in rows["prompt"]]
    train = rows.select([i for i, f in enumerate(flags) if not f])
    held = rows.select([i for i, f in enumerate(flags) if f])
    return train, held
