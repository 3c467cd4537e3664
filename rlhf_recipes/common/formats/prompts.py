"""Prompts for PPO and the report, from any format of `PROMPT_FORMATS`; empty prompts are dropped and counted.
The formats: docs/data-formats.md."""

from datasets import Dataset

from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.formats.shared import (
    Format,
    canonical_columns,
    find_format,
    format_error,
    nonempty,
    rename_columns,
    transcript_prompt_length,
)
from rlhf_recipes.common.logs import get_logger

logger = get_logger(__name__)

PROBLEM = "no prompts found"


def to_prompts(rows: Dataset, source: str, column_mapping: dict | None = None, prompt_words: int | None = None) -> list:
    """The prompts of the first format whose column the rows have (`text` needs `prompt_words`)."""
    rows = canonical_columns(rename_columns(rows, column_mapping, source))
    form, _ = find_format(PROMPT_FORMATS, rows, source, PROBLEM)
    prompts = form.convert(rows, source, prompt_words)
    kept = [prompts[i] for i in nonempty(prompts, "prompt", source)]
    if not kept:
        raise RecipeError(f"{source}: every prompt is empty.")
    logger.info(f"{source}: {len(kept)} prompts.")
    return kept


def _prompt(rows: Dataset, source: str, prompt_words: int | None) -> list:
    return list(rows["prompt"])


def _chat(rows: Dataset, source: str, prompt_words: int | None) -> list:
    return [m[:-1] if m and m[-1].get("role") == "assistant" else m for m in rows["messages"]]


def _transcripts(rows: Dataset, source: str, prompt_words: int | None) -> list:
    return [text[: transcript_prompt_length(text)] for text in rows["chosen"]]


def _first_words(rows: Dataset, source: str, prompt_words: int | None) -> list:
    if not prompt_words:
        raise format_error(PROMPT_FORMATS, rows, source, f"{PROBLEM} (set `prompt_words` to cut prompts from it)")
    return [" ".join(str(text or "").split()[:prompt_words]) for text in rows["text"]]


# In order: the first format whose column is there is the one read.
PROMPT_FORMATS = (
    Format("prompt", ("prompt",), _prompt, "as it is, e.g. a CSV with a `Prompt` column"),
    Format("chat messages", ("messages",), _chat, "all but a final assistant turn"),
    Format("chosen transcripts", ("chosen",), _transcripts, "HH transcripts up to the last `Assistant:`"),
    Format("text", ("text",), _first_words, "its first `prompt_words` words"),
)
