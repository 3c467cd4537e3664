"""SFT data in any format of `SFT_FORMATS` -> `prompt` / `completion` (plain text or chat turns), or `text` alone.
The formats, and the table they match: docs/data-formats.md."""

from datasets import Dataset

from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.formats.shared import (
    HH_LAYOUT,
    Format,
    canonical_columns,
    find_format,
    nonempty,
    rename_columns,
    transcript_prompt_length,
)
from rlhf_recipes.common.logs import get_logger

logger = get_logger(__name__)


def to_sft_examples(rows: Dataset, source: str, column_mapping: dict | None = None) -> Dataset:
    """The rows in the first format whose columns they have; each row needs a value in each of them."""
    rows = canonical_columns(rename_columns(rows, column_mapping, source))
    form, columns = find_format(SFT_FORMATS, rows, source, "unknown format")
    for column in columns:
        for index, value in enumerate(rows[column]):
            if value is None:
                raise RecipeError(f"{source}, row {index + 1}: no value in required column {column!r}.")
    rows = form.convert(rows, source)
    keep = nonempty(rows[rows.column_names[-1]], "response", source)
    if not keep:
        raise RecipeError(f"{source}: every row has an empty response; nothing to train on.")
    logger.info(f"{source}: {len(rows)} rows in {form.name} format, {len(keep)} kept.")
    return rows.select(keep)


def _prompt_response(rows: Dataset, source: str) -> Dataset:
    return rows.rename_column("response", "completion").select_columns(["prompt", "completion"])


def _prompt_completion(rows: Dataset, source: str) -> Dataset:
    return rows.select_columns(["prompt", "completion"])


def _chat(rows: Dataset, source: str) -> Dataset:
    """Chat `messages` split before their last turn, the assistant's."""
    return rows.map(_split_last_turn, fn_kwargs={"source": source}, with_indices=True).select_columns(
        ["prompt", "completion"]
    )


def _transcripts(rows: Dataset, source: str) -> Dataset:
    """HH `chosen` transcripts split before their last assistant turn."""
    return rows.map(_split_transcript, fn_kwargs={"source": source}, with_indices=True).select_columns(
        ["prompt", "completion"]
    )


def _plain_text(rows: Dataset, source: str) -> Dataset:
    return rows.select_columns(["text"])


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


# In order: the first format whose columns are all there is the one read.
SFT_FORMATS = (
    Format("prompt/response", ("prompt", "response"), _prompt_response, "the response is the target"),
    Format("prompt/completion", ("prompt", "completion"), _prompt_completion, "the completion is the target"),
    Format("chat messages", ("messages",), _chat, "chat turns; the last, the assistant's, is the target"),
    Format("chosen transcripts", ("chosen",), _transcripts, "Anthropic HH; the last assistant reply is the target"),
    Format("plain text", ("text",), _plain_text, "language modelling on the whole text"),
)
