"""What the format families share: the `Format` table row, finding a format, columns, HH transcripts, drops."""

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from datasets import Dataset

from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import get_logger

logger = get_logger(__name__)

ASSISTANT = "\n\nAssistant:"  # HH transcripts: "\n\nHuman: ...\n\nAssistant: ..."
HH_LAYOUT = "'\\n\\nHuman: ...\\n\\nAssistant: ...'"
FORMATS_DOC = "docs/data-formats.md"


@dataclass(frozen=True)
class Format:
    """One row of a family's table; `columns` are what messages and docs/data-formats.md show. The format is there when all
    its `columns` are, or, for a variable number of them, when `find` picks the ones it reads (None: not there)."""

    name: str
    columns: tuple[str, ...]
    convert: Callable
    description: str
    find: Callable[[list[str]], list | None] | None = None

    def read(self, names: list[str]) -> list | None:
        if self.find is not None:
            return self.find(names)
        return list(self.columns) if set(self.columns) <= set(names) else None

    def __str__(self) -> str:
        return f"{self.name}: {', '.join(self.columns)} ({self.description})"


def find_format(table: tuple[Format, ...], rows: Dataset, source: str, problem: str) -> tuple[Format, list]:
    """The first format of `table` whose columns `rows` has, and the columns it reads."""
    for form in table:
        columns = form.read(rows.column_names)
        if columns is not None:
            return form, columns
    raise format_error(table, rows, source, problem)


def format_error(table: tuple[Format, ...], rows: Dataset, source: str, problem: str) -> RecipeError:
    """`problem`, the columns found and every format of `table` with its columns, in one paragraph."""
    expected = "; ".join(str(form) for form in table)
    return RecipeError(
        f"{source}: {problem}. Columns found: {rows.column_names}. Expected one of — {expected}. "
        f"Use `column_mapping` in the YAML to rename other columns (formats: {FORMATS_DOC})."
    )


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


def nonempty(values: list, what: str, source: str) -> list[int]:
    """Indices of the values with some text (chat turns: in their contents); the others are counted and reported."""
    texts = ["".join(str(t.get("content") or "") for t in v) if isinstance(v, list) else str(v or "") for v in values]
    keep = [i for i, text in enumerate(texts) if text.strip()]
    report_dropped(Counter({f"empty {what}": len(values) - len(keep)}), len(values), source)
    return keep
