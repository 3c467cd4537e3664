"""Every accepted dataset format -> the columns TRL expects; every check on the rows lives here.

SFT (`to_sft_examples`): prompt/response, prompt/completion, chat `messages`, HH `chosen` transcripts,
plain `text`. Preferences (`to_preference_pairs`): prompt/chosen/rejected (text or chat), chosen/rejected
transcripts sharing their prompt (Anthropic HH), K-way rankings best first (all K(K-1)/2 pairs), scored
answers (WebGPT; ties dropped). Prompts (`to_prompts`) for PPO and the report. Formats are recognized
from the columns after `column_mapping`; every dropped row or pair is counted and reported.
"""

import hashlib
import json
import re
from collections import Counter

from datasets import Dataset

from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import get_logger

logger = get_logger(__name__)

SFT_FORMATS = {
    "prompt/response": ("prompt", "response"),
    "prompt/completion": ("prompt", "completion"),
    "chat messages": ("messages",),
    "chosen transcripts": ("chosen",),  # Anthropic HH: SFT on the preferred conversation
    "plain text": ("text",),  # language modelling on whole texts
}

TRANSCRIPT_ASSISTANT = "\n\nAssistant:"

TRANSCRIPT_ROLES = {"Human": "user", "Assistant": "assistant"}



def rename_columns(rows: Dataset, mapping: dict | None, source: str) -> Dataset:
    """Apply a `column_mapping`; mapping a column that is not there is an error."""
    if not mapping:
        return rows
    missing = [name for name in mapping if name not in rows.column_names]
    if missing:
        raise RecipeError(
            f"{source}: column_mapping names {missing}, which the data does not have; "
            f"its columns are {rows.column_names}."
        )
    return rows.rename_columns(mapping)



def canonical_columns(rows: Dataset) -> Dataset:
    """Lower-case column names (`Prompt` -> `prompt`) where that makes no clash."""
    lowered = {c: c.strip().lower() for c in rows.column_names}
    if len(set(lowered.values())) < len(lowered):
        return rows
    return rows.rename_columns({c: new for c, new in lowered.items() if c != new})



def detect_format(rows: Dataset, formats: dict[str, tuple[str, ...]], source: str) -> str:
    """Name of the first format whose columns are all present."""
    for name, columns in formats.items():
        if all(column in rows.column_names for column in columns):
            return name
    expected = "; ".join(f"{name}: {', '.join(columns)}" for name, columns in formats.items())
    raise RecipeError(
        f"{source}: unknown format. Columns found: {rows.column_names}. Expected one of — {expected}. "
        "Use `column_mapping` in the YAML to rename other columns."
    )



def check_present(rows: Dataset, columns: tuple[str, ...], source: str) -> None:
    """Every row must have a value in each required column (an empty string is allowed here)."""
    for column in columns:
        for index, value in enumerate(rows[column]):
            if value is None:
                raise RecipeError(f"{source}, row {index + 1}: no value in required column {column!r}.")



def report_dropped(dropped: Counter, total: int, source: str) -> None:
    for reason, count in dropped.items():
        logger.warning(f"{source}: dropped {count} of {total} rows: {reason}.")



def to_sft_examples(rows: Dataset, source: str, column_mapping: dict | None = None) -> Dataset:
    """SFT data in any accepted format -> `prompt` / `completion` columns (plain text or chat turns),
    or a `text` column for plain language modelling.

    Chat `messages` become the conversation before the last turn (prompt) and the last turn, which
    must be the assistant's (completion); a HH transcript splits before its last assistant turn. So
    the loss falls on the response only.
    """
    rows = rename_columns(rows, column_mapping, source)
    kind = detect_format(rows, SFT_FORMATS, source)
    check_present(rows, SFT_FORMATS[kind], source)
    if kind == "prompt/response":
        rows = rows.rename_column("response", "completion")
    if kind == "chat messages":
        rows = rows.map(_split_last_turn, fn_kwargs={"source": source}, with_indices=True)
    if kind == "chosen transcripts":
        rows = rows.map(_split_transcript, fn_kwargs={"source": source}, with_indices=True)
    columns = ["text"] if kind == "plain text" else ["prompt", "completion"]
    rows = rows.select_columns(columns)
    keep = [i for i, target in enumerate(rows[columns[-1]]) if _text_of(target).strip()]
    dropped = Counter({"empty response": len(rows) - len(keep)} if len(keep) < len(rows) else {})
    report_dropped(dropped, len(rows), source)
    if not keep:
        raise RecipeError(f"{source}: every row has an empty response; nothing to train on.")
    logger.info(f"{source}: {len(rows)} rows in {kind} format, {len(keep)} kept.")
    return rows.select(keep)



def transcript_prompt_length(text) -> int:
    """Length of a HH transcript's prompt: up to and including its last `Assistant:` (0 if it has none)."""
    cut = text.rfind(TRANSCRIPT_ASSISTANT) if isinstance(text, str) else -1
    return 0 if cut < 0 else cut + len(TRANSCRIPT_ASSISTANT)



def _split_transcript(row: dict, index: int, source: str) -> dict:
    text = row["chosen"]
    end = transcript_prompt_length(text)
    if not end:
        raise RecipeError(
            f"{source}, row {index + 1}: `chosen` is not a transcript in the '\\n\\nHuman: ...\\n\\nAssistant: ...' "
            "layout; give `prompt`/`response` columns or map yours with `column_mapping`."
        )
    return {"prompt": text[:end], "completion": text[end:]}



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



def transcript_to_messages(text: str) -> list[dict]:
    """'\\n\\nHuman: a\\n\\nAssistant: b\\n\\nAssistant:' -> chat turns (the empty last turn is dropped)."""
    parts = re.split(r"\n\n(Human|Assistant):", text)
    turns = [{"role": TRANSCRIPT_ROLES[parts[i]], "content": parts[i + 1].strip()} for i in range(1, len(parts), 2)]
    return [t for t in turns if t["content"]]



def prompt_turns(prompt) -> list[dict]:
    """A prompt as chat turns: its own turns, the turns of a HH transcript, or one user turn."""
    if isinstance(prompt, list):
        return prompt
    turns = transcript_to_messages(prompt) if TRANSCRIPT_ASSISTANT in prompt else []
    return turns or [{"role": "user", "content": prompt}]


def _text_of(value) -> str:
    if isinstance(value, list):  # chat turns
        return "".join(str(turn.get("content") or "") for turn in value)
    return str(value)



def to_prompts(rows: Dataset, source: str, column_mapping: dict | None = None, prompt_words: int | None = None) -> list:
    """Prompts from a `prompt` column (any case), chat `messages` (all but a final assistant turn),
    or the first `prompt_words` words of a `text` column. Empty prompts are dropped and counted."""
    rows = canonical_columns(rename_columns(rows, column_mapping, source))
    if "prompt" in rows.column_names:
        prompts = list(rows["prompt"])
    elif "messages" in rows.column_names:
        prompts = [m[:-1] if m and m[-1].get("role") == "assistant" else m for m in rows["messages"]]
    elif "chosen" in rows.column_names:  # HH transcripts: the conversation up to the last assistant turn
        prompts = [t[: transcript_prompt_length(t)] for t in rows["chosen"]]
    elif "text" in rows.column_names and prompt_words:
        prompts = [" ".join(str(text or "").split()[:prompt_words]) for text in rows["text"]]
    else:
        hint = " (set `prompt_words` to cut prompts from it)" if "text" in rows.column_names else ""
        raise RecipeError(
            f"{source}: no prompts found{hint}. Columns found: {rows.column_names}; expected `prompt` "
            "(e.g. a CSV with a `Prompt` column), chat `messages`, HH `chosen` transcripts, or `text` with "
            "`prompt_words`."
        )
    kept = [p for p in prompts if p and _text_of(p).strip()]
    report_dropped(Counter({"empty prompt": len(prompts) - len(kept)} if len(kept) < len(prompts) else {}), len(prompts), source)
    if not kept:
        raise RecipeError(f"{source}: every prompt is empty.")
    logger.info(f"{source}: {len(kept)} prompts.")
    return kept



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



def split_by_prompt(rows: Dataset, eval_fraction: float) -> tuple[Dataset, Dataset]:
    """Hold out `eval_fraction` of the prompts (by a hash of their text: deterministic, the same on every rank)."""
    def held_out(prompt) -> bool:
        digest = hashlib.sha256(json.dumps(prompt, sort_keys=True).encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < eval_fraction

    flags = [held_out(p) for p in rows["prompt"]]
    train = rows.select([i for i, f in enumerate(flags) if not f])
    held = rows.select([i for i, f in enumerate(flags) if f])
    return train, held

