"""Every accepted dataset format -> the columns TRL expects; every check on the rows lives here.

- SFT (`to_sft_examples`): prompt/response, prompt/completion, chat `messages`, HH `chosen` transcripts, plain `text`.
- Preferences (`to_preference_pairs`): prompt/chosen/rejected (text or chat), chosen/rejected transcripts sharing
  their prompt (Anthropic HH), K-way rankings best first (all K(K-1)/2 pairs), scored answers (WebGPT; ties dropped).
  `split_by_prompt` holds out prompts for the held-out figures.
- Prompts (`to_prompts`) for PPO and the report.

Formats are recognized from the columns after `column_mapping`; every dropped row or pair is counted and reported.
"""

import hashlib
import json
import os
import re
from collections import Counter
from itertools import combinations

from datasets import Dataset

from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import get_logger

logger = get_logger(__name__)

ASSISTANT = "\n\nAssistant:"  # HH transcripts: "\n\nHuman: ...\n\nAssistant: ..."
HH_LAYOUT = "'\\n\\nHuman: ...\\n\\nAssistant: ...'"
UNSHARED = "chosen and rejected share no prompt ending in 'Assistant:'"


# Shared: columns, transcripts and chat turns, what is dropped


def rename_columns(rows: Dataset, mapping: dict | None, source: str) -> Dataset:
    """Apply a `column_mapping`; mapping a column that is not there is an error."""
    missing = [name for name in mapping or {} if name not in rows.column_names]
    if missing:
        raise RecipeError(
            f"{source}: column_mapping names {missing}, which the data does not have; "
            f"its columns are {rows.column_names}."
        )
    return rows.rename_columns(mapping) if mapping else rows


def canonical_columns(rows: Dataset) -> Dataset:
    """Lower-case column names (`Prompt` -> `prompt`) where that makes no clash."""
    lowered = {c: c.strip().lower() for c in rows.column_names}
    if len(set(lowered.values())) < len(lowered):
        return rows
    return rows.rename_columns({c: new for c, new in lowered.items() if c != new})


def transcript_prompt_length(text) -> int:
    """Length of a HH transcript's prompt: up to and including its last `Assistant:` (0 if it has none)."""
    cut = text.rfind(ASSISTANT) if isinstance(text, str) else -1
    return 0 if cut < 0 else cut + len(ASSISTANT)


def prompt_turns(prompt) -> list[dict]:
    """A prompt as chat turns: its own turns, the turns of a HH transcript (empty ones dropped), or one user turn."""
    if isinstance(prompt, list):
        return prompt
    parts = re.split(r"\n\n(Human|Assistant):", prompt) if ASSISTANT in prompt else []
    turns = [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts), 2)]
    turns = [{"role": "user" if who == "Human" else "assistant", "content": text} for who, text in turns if text]
    return turns or [{"role": "user", "content": prompt}]


def report_dropped(dropped: Counter, total: int, source: str) -> None:
    """One warning per reason: how many of `total` were dropped, and why."""
    for reason, count in dropped.items():
        if count:
            logger.warning(f"{source}: dropped {count} of {total} rows: {reason}.")


def _nonempty(values: list, what: str, source: str) -> list[int]:
    """Indices of the values with some text (chat turns: in their contents); the others are counted and reported."""
    texts = ["".join(str(t.get("content") or "") for t in v) if isinstance(v, list) else str(v or "") for v in values]
    keep = [i for i, text in enumerate(texts) if text.strip()]
    report_dropped(Counter({f"empty {what}": len(values) - len(keep)}), len(values), source)
    return keep


# SFT

SFT_FORMATS = {
    "prompt/response": ("prompt", "response"),
    "prompt/completion": ("prompt", "completion"),
    "chat messages": ("messages",),
    "chosen transcripts": ("chosen",),  # Anthropic HH: SFT on the preferred conversation
    "plain text": ("text",),  # language modelling on whole texts
}


def to_sft_examples(rows: Dataset, source: str, column_mapping: dict | None = None) -> Dataset:
    """SFT data in any accepted format -> `prompt` / `completion` (plain text or chat turns), or `text` alone.
    Chat `messages` split before their last turn, the assistant's; a HH transcript before its last assistant turn."""
    rows = canonical_columns(rename_columns(rows, column_mapping, source))
    kind = _sft_format(rows, source)
    if kind == "prompt/response":
        rows = rows.rename_column("response", "completion")
    if kind in ("chat messages", "chosen transcripts"):
        split = _split_last_turn if kind == "chat messages" else _split_transcript
        rows = rows.map(split, fn_kwargs={"source": source}, with_indices=True)
    columns = ["text"] if kind == "plain text" else ["prompt", "completion"]
    rows = rows.select_columns(columns)
    keep = _nonempty(rows[columns[-1]], "response", source)
    if not keep:
        raise RecipeError(f"{source}: every row has an empty response; nothing to train on.")
    logger.info(f"{source}: {len(rows)} rows in {kind} format, {len(keep)} kept.")
    return rows.select(keep)


def _sft_format(rows: Dataset, source: str) -> str:
    """The first format whose columns are all present; each row needs a value in each of them."""
    kind = next((name for name, columns in SFT_FORMATS.items() if set(columns) <= set(rows.column_names)), None)
    if kind is None:
        expected = "; ".join(f"{name}: {', '.join(columns)}" for name, columns in SFT_FORMATS.items())
        raise RecipeError(
            f"{source}: unknown format. Columns found: {rows.column_names}. Expected one of — {expected}. "
            "Use `column_mapping` in the YAML to rename other columns."
        )
    for column in SFT_FORMATS[kind]:
        for index, value in enumerate(rows[column]):
            if value is None:
                raise RecipeError(f"{source}, row {index + 1}: no value in required column {column!r}.")
    return kind


def _split_transcript(row: dict, index: int, source: str) -> dict:
    end = transcript_prompt_length(row["chosen"])
    if not end:
        raise RecipeError(
            f"{source}, row {index + 1}: `chosen` is not a transcript in the {HH_LAYOUT} layout; give "
            "`prompt`/`response` columns or map yours with `column_mapping`."
        )
    return {"prompt": row["chosen"][:end], "completion": row["chosen"][end:]}


def _split_last_turn(row: dict, index: int, source: str) -> dict:
    messages = row["messages"]
    if not isinstance(messages, list) or len(messages) < 2 or not all(isinstance(m, dict) for m in messages):
        raise RecipeError(f"{source}, row {index + 1}: `messages` must be a list of at least two turns.")
    if messages[-1].get("role") != "assistant":
        raise RecipeError(
            f"{source}, row {index + 1}: the last turn of `messages` must be the assistant's "
            f"(got role {messages[-1].get('role')!r})."
        )
    return {"prompt": messages[:-1], "completion": messages[-1:]}


# Preferences


def to_preference_pairs(rows: Dataset, source: str, column_mapping: dict | None = None) -> Dataset:
    """Preferences in any accepted format -> `prompt` / `chosen` / `rejected` rows, counting what is dropped."""
    rows = canonical_columns(rename_columns(rows, column_mapping, source))
    kind, columns = _preference_format(rows, source)
    pairs, dropped, unshared = [], Counter(), []
    for index, row in enumerate(rows):
        where = f"{source}, row {index + 1}"
        if kind == "prompt/chosen/rejected":
            pairs.append(_prompted_pair(row))
        elif kind == "chosen/rejected transcripts":
            pair = split_transcripts(row["chosen"], row["rejected"])
            if pair is None:
                unshared.append(index + 1)
            else:
                pairs.append(pair)
        elif kind == "ranked responses":
            pairs += _ranking_to_pairs(row, columns, where)
        else:
            pairs += _scores_to_pairs(row, columns, where, dropped)
    if unshared:
        dropped[f"{UNSHARED} (the first: row {unshared[0]})"] = len(unshared)
    made = len(pairs) + sum(dropped.values())
    kept = [pair for pair in pairs if pair["chosen"] != pair["rejected"]]
    dropped["chosen identical to rejected"] = len(pairs) - len(kept)
    logger.info(f"{source}: read {len(rows)} rows ({kind}), made {made} pairs.")
    report_dropped(dropped, made, source)
    if not kept and unshared:
        raise RecipeError(
            f"{source}, row {unshared[0]}: {UNSHARED}, and no pair is left to train on. Give a `prompt` column "
            f"or transcripts in the {HH_LAYOUT} layout."
        )
    if not kept:
        raise RecipeError(f"{source}: every pair is a tie or has chosen identical to rejected; nothing to train on.")
    return Dataset.from_list(kept)


def _preference_format(rows: Dataset, source: str) -> tuple[str, list]:
    """The format, and the columns it reads: ranked responses (best first) or (answer_i, score_i), WebGPT style."""
    columns = rows.column_names
    if {"chosen", "rejected"} <= set(columns):
        return "prompt/chosen/rejected" if "prompt" in columns else "chosen/rejected transcripts", []
    ranked = ["responses"] if "responses" in columns else [c for c in columns if "response" in c and c != "prompt"]
    if "prompt" in columns and (ranked == ["responses"] or len(ranked) >= 2):
        return "ranked responses", ranked
    scored = [(f"answer_{i}", f"score_{i}") for i in range(len(columns))]
    scored = [(answer, score) for answer, score in scored if answer in columns and score in columns]
    if len(scored) >= 2:
        return "scored answers", scored
    raise RecipeError(
        f"{source}: unknown preference format. Columns found: {columns}. Expected one of — prompt, chosen, "
        "rejected; chosen, rejected (full transcripts); prompt plus two or more ranked response columns, best first "
        "(or a `responses` list); answer_0, answer_1, score_0, score_1 (with prompt or question). Use "
        "`column_mapping` in the YAML to rename other columns."
    )


def _prompted_pair(row: dict) -> dict:
    """A prompt/chosen/rejected row; chat turns that repeat the prompt (UltraFeedback) keep only the replies."""
    chosen, rejected = row["chosen"], row["rejected"]
    if isinstance(chosen, list) and isinstance(rejected, list):
        if chosen and rejected and chosen[0] == rejected[0]:
            return split_transcripts(chosen, rejected)
        return {"prompt": prompt_turns(row["prompt"]), "chosen": chosen, "rejected": rejected}
    return {"prompt": row["prompt"], "chosen": chosen, "rejected": rejected}


def split_transcripts(chosen, rejected) -> dict | None:
    """Two conversations sharing their prompt -> prompt / chosen / rejected: chat turns after their longest common
    run, HH text after its last shared `Assistant:` (None if there is none), so prompt + reply is the transcript."""
    if isinstance(chosen, list) and isinstance(rejected, list):
        shared = 0
        while shared < min(len(chosen), len(rejected)) - 1 and chosen[shared] == rejected[shared]:
            shared += 1
        return {"prompt": chosen[:shared], "chosen": chosen[shared:], "rejected": rejected[shared:]}
    end = transcript_prompt_length(os.path.commonprefix([chosen, rejected]))
    return {"prompt": chosen[:end], "chosen": chosen[end:], "rejected": rejected[end:]} if end else None


def _ranking_to_pairs(row: dict, columns: list[str], where: str) -> list[dict]:
    """A K-way ranking (best first) -> all K(K-1)/2 (better, worse) pairs."""
    ranked = row["responses"] if columns == ["responses"] else [row[c] for c in columns]
    ranked = [r for r in ranked or [] if r is not None and str(r).strip()]
    if len(ranked) < 2:
        raise RecipeError(f"{where}: a ranking needs at least two responses, found {len(ranked)}.")
    return [{"prompt": row["prompt"], "chosen": better, "rejected": worse} for better, worse in combinations(ranked, 2)]


def _scores_to_pairs(row: dict, columns: list[tuple[str, str]], where: str, dropped: Counter) -> list[dict]:
    """Scored answers -> pairs, the higher score chosen; ties are dropped and counted."""
    prompt = row.get("prompt", row.get("question"))
    if isinstance(prompt, dict):  # WebGPT: {"full_text": ...}
        prompt = prompt.get("full_text")
    if prompt is None:
        raise RecipeError(f"{where}: scored answers need a `prompt` or `question` column.")
    answers = [(row[a], float(row[s])) for a, s in columns]
    pairs = []
    for (answer_i, score_i), (answer_j, score_j) in combinations(answers, 2):
        if score_i == score_j:
            dropped["tied scores"] += 1
        else:
            better, worse = (answer_i, answer_j) if score_i > score_j else (answer_j, answer_i)
            pairs.append({"prompt": prompt, "chosen": better, "rejected": worse})
    return pairs


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


# Prompts


def to_prompts(rows: Dataset, source: str, column_mapping: dict | None = None, prompt_words: int | None = None) -> list:
    """Prompts from a `prompt` column (any case), chat `messages` (all but a final assistant turn), HH `chosen`
    transcripts (up to the last assistant turn), or the first `prompt_words` words of a `text` column.
    Empty prompts are dropped and counted."""
    rows = canonical_columns(rename_columns(rows, column_mapping, source))
    if "prompt" in rows.column_names:
        prompts = list(rows["prompt"])
    elif "messages" in rows.column_names:
        prompts = [m[:-1] if m and m[-1].get("role") == "assistant" else m for m in rows["messages"]]
    elif "chosen" in rows.column_names:
        prompts = [text[: transcript_prompt_length(text)] for text in rows["chosen"]]
    elif "text" in rows.column_names and prompt_words:
        prompts = [" ".join(str(text or "").split()[:prompt_words]) for text in rows["text"]]
    else:
        hint = " (set `prompt_words` to cut prompts from it)" if "text" in rows.column_names else ""
        raise RecipeError(
            f"{source}: no prompts found{hint}. Columns found: {rows.column_names}; expected `prompt` (e.g. a CSV "
            "with a `Prompt` column), chat `messages`, HH `chosen` transcripts, or `text` with `prompt_words`."
        )
    kept = [prompts[i] for i in _nonempty(prompts, "prompt", source)]
    if not kept:
        raise RecipeError(f"{source}: every prompt is empty.")
    logger.info(f"{source}: {len(kept)} prompts.")
    return kept
