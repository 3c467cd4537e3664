"""A dataset in, rows out: a local json / jsonl / csv / parquet file or folder, or a hub id.

A bad file is named with the line where it goes wrong; what the rows mean is `formats`' concern.
"""

import csv
import io
import json
from pathlib import Path

from datasets import Dataset, DatasetDict

from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import get_logger

logger = get_logger(__name__)

FILE_TYPES = {".json": "json", ".jsonl": "jsonl", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet"}


DELIMITERS = ",|;\t"



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

