"""Datasets in, the columns TRL expects out; every check on user data lives here.

`load_rows` reads a local json / jsonl / csv (any common delimiter) / parquet file, a local folder
or a hub id. `to_sft_examples` (SFT) and `to_prompts` (PPO, reports) recognize a format from
its columns (after `column_mapping`) and return the columns a trainer needs, counting every row
they drop and saying why. Preference data has its own module, `preferences`.
"""

import csv
import io
import json
import re
from collections import Counter
from pathlib import Path

from datasets import Dataset, DatasetDict

from rlhf_recipes.errors import RecipeError
from rlhf_recipes.logs import get_logger

logger = get_logger(__name__)

FILE_TYPES = {".json": "json", ".jsonl": "jsonl", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet"}
DELIMITERS = ",|;\t"
SFT_FORMATS = {
    "prompt/response": ("prompt", "response"),
    "prompt/completion": ("prompt", "completion"),
    "chat messages": ("messages",),
    "chosen transcripts": ("chosen",),  # Anthropic HH: SFT on the preferred conversation
    "plain text": ("text",),  # language modelling on whole texts
}
TRANSCRIPT_ASSISTANT = "\n\nAssistant:"
TRANSCRIPT_ROLES = {"Human": "user", "Assistant": "assistant"}


def load_rows(name: str, split: str = "train", config: str | None = None) -> Dataset:
    """One split of a dataset given as a local file or folder, or as a hub id."""
    path = Path(name)
    if path.is_file():
        rows = read_file(path)
        if not rows:
            raise RecipeError(f"{name}: the file holds no rows.")
        return Dataset.from_list(rows)
    if not path.exists() and (name.startswith((".", "/", "~")) or path.suffix in FILE_TYPES):
        raise RecipeError(f"{name}: no such file or folder (the path is relative to {Path.cwd()}).")
    return _load_split(name, split, config)


def load_splits(name: str, config: str | None = None) -> DatasetDict:
    """All splits of a dataset: a single local file is one `train` split."""
    if Path(name).is_file():
        return DatasetDict({"train": load_rows(name)})
    return _load_dataset(name, config)


def _load_dataset(name: str, config: str | None) -> DatasetDict:
    from datasets import load_dataset

    try:
        return load_dataset(name, config)
    except (FileNotFoundError, ConnectionError) as err:
        raise RecipeError(
            f"dataset_name {name!r}: not a local file or folder, and the hub could not provide it "
            f"(offline, or no such dataset): {err}"
        ) from None
    except ValueError as err:
        raise RecipeError(f"dataset_name {name!r} (config {config!r}) could not be loaded: {err}") from None


def _load_split(name: str, split: str, config: str | None) -> Dataset:
    return select_split(_load_dataset(name, config), name, split)


def select_split(splits: DatasetDict, name: str, split: str) -> Dataset:
    """One split by name; a missing or empty split is an error naming the dataset and its splits."""
    if split not in splits:
        raise RecipeError(f"dataset {name!r} has no split {split!r}; it has {sorted(splits)}.")
    if len(splits[split]) == 0:
        raise RecipeError(f"dataset {name!r}, split {split!r}, holds no rows.")
    return splits[split]


def read_file(path: Path) -> list[dict]:
    """Rows of a local file; a bad file is named with the line where it goes wrong."""
    kind = FILE_TYPES.get(path.suffix.lower())
    if kind is None:
        raise RecipeError(f"{path}: unknown file type {path.suffix!r}; expected one of {sorted(FILE_TYPES)}.")
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except Exception as err:  # pyarrow raises several types for a broken file
            raise RecipeError(f"{path}: not a valid parquet file ({err}).") from None
    text = _read_text(path)
    if kind == "csv":
        return _parse_csv(path, text)
    if kind == "jsonl" or (text.lstrip().startswith("{") and "\n{" in text.strip()):
        return _parse_jsonl(path, text)  # JSON lines, also when saved as .json
    return _parse_json(path, text)


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise RecipeError(
            f"{path}, line {line}: bytes that are not UTF-8 ({data[err.start:err.start + 4]!r}). "
            "Re-save the file as UTF-8."
        ) from None


def _parse_json(path: Path, text: str) -> list[dict]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise RecipeError(f"{path}, line {err.lineno}: not valid JSON ({err.msg}).") from None
    if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
        data = next(iter(data.values()))  # {"data": [...]}
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise RecipeError(f"{path}: expected a JSON list of objects, one per row.")
    return data


def _parse_jsonl(path: Path, text: str) -> list[dict]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise RecipeError(f"{path}, line {number}: not valid JSON ({err.msg}).") from None
        if not isinstance(row, dict):
            raise RecipeError(f"{path}, line {number}: expected a JSON object, got {type(row).__name__}.")
        rows.append(row)
    return rows


def _parse_csv(path: Path, text: str) -> list[dict]:
    header = text.split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=header.count)
    if header.count(delimiter) == 0:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        columns = next(reader)
    except StopIteration:
        raise RecipeError(f"{path}: the file is empty.") from None
    rows, blank = [], 0
    for fields in reader:
        if not any(fields):
            blank += 1
            continue
        if len(fields) != len(columns):
            raise RecipeError(
                f"{path}, line {reader.line_num}: {len(fields)} fields, but the header has {len(columns)} "
                f"({delimiter!r}-separated: {columns}). Quote fields that contain the delimiter."
            )
        rows.append(dict(zip(columns, fields)))
    if blank:
        logger.warning(f"{path}: skipped {blank} blank lines.")
    return rows


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


def as_chat(rows: Dataset) -> Dataset:
    """Plain-text prompt/completion -> user turn(s) and one assistant turn, for the chat template."""
    if isinstance(rows[0]["prompt"], list):
        return rows
    return rows.map(
        lambda row: {
            "prompt": prompt_turns(row["prompt"]),
            "completion": [{"role": "assistant", "content": row["completion"].strip()}],
        }
    )


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
