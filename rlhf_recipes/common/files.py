"""A dataset in, rows out: a local json / jsonl / csv / tsv / parquet file or folder, or a hub id, read by
`datasets.load_dataset`, bad lines located; what the rows mean is `formats`' concern (docs/data-formats.md)."""

import csv
import hashlib
import json
from pathlib import Path

from datasets import Dataset, DatasetDict, Features, Value, load_dataset

from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import get_logger

logger = get_logger(__name__)

FILE_TYPES = {".json": "json", ".jsonl": "json", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet"}
DELIMITERS = ",|;\t"


def load_rows(name: str, split: str = "train", config: str | None = None) -> Dataset:
    """One split of a dataset given as a local file or folder, or as a hub id."""
    path = Path(name)
    if path.is_file():
        return _load_file(path)
    if not path.exists() and (name.startswith((".", "/", "~")) or path.suffix in FILE_TYPES):
        raise RecipeError(
            f"{name}: no such file or folder. A relative path in a recipe YAML is looked for in the "
            f"YAML's folder, then in the working directory ({Path.cwd()}); one on the command line in "
            "the working directory."
        )
    return select_split(_load_dataset(name, config), name, split)


def load_splits(name: str, config: str | None = None) -> DatasetDict:
    """All splits of a dataset: a single local file is one `train` split."""
    if Path(name).is_file():
        return DatasetDict({"train": load_rows(name)})
    return _load_dataset(name, config)


def select_split(splits: DatasetDict, name: str, split: str) -> Dataset:
    """One split by name; a missing or empty split is an error naming the dataset and its splits."""
    if split not in splits:
        raise RecipeError(f"dataset {name!r} has no split {split!r}; it has {sorted(splits)}.")
    if len(splits[split]) == 0:
        raise RecipeError(f"dataset {name!r}, split {split!r}, holds no rows.")
    return splits[split]


def _load_dataset(name: str, config: str | None) -> DatasetDict:
    try:
        return load_dataset(name, config)
    except (FileNotFoundError, ConnectionError) as err:
        raise RecipeError(
            f"dataset_name {name!r}: not a local file or folder, and the hub could not provide it "
            f"(offline, or no such dataset): {err}"
        ) from None
    except ValueError as err:
        raise RecipeError(f"dataset_name {name!r} (config {config!r}) could not be loaded: {err}") from None


def _load_file(path: Path) -> Dataset:
    kind = FILE_TYPES.get(path.suffix.lower())
    if kind is None:
        raise RecipeError(f"{path}: unknown file type {path.suffix!r}; expected one of {sorted(FILE_TYPES)}.")
    options, blank, one_object = {}, 0, False
    if kind == "csv":
        delimiter, columns, blank = _check_csv(path)
        as_text = Features({column: Value("string") for column in columns})  # values stay as written
        options = {"delimiter": delimiter, "features": as_text, "na_filter": False, "encoding": "utf-8-sig"}
    if kind == "json":
        one_object = path.suffix.lower() == ".json" and _json_start(path) == b"{"
        options = {"parse_agent_traces": False}  # else `id`, `model`, `messages`... columns need `teich`
    try:  # the config name is the content's hash: `datasets` alone keys its cache on the path and mtime
        rows = load_dataset(kind, _content_hash(path), data_files=str(path.resolve()), split="train", **options)
        rows.data.table.validate(full=True)  # pyarrow's JSON reader lets bytes that are not UTF-8 through
    except Exception as err:  # noqa: BLE001 - the builders raise many types for a bad file; all are explained
        raise _explain(path, kind, err) from None
    if blank:
        rows = rows.filter(lambda batch: [any(values) for values in zip(*batch.values())], batched=True)
        logger.warning(f"{path}: skipped {blank} blank lines.")
    if one_object and rows.shape == (1, 1):
        rows = _unwrap(path, rows)
    if len(rows) == 0:
        raise _no_rows(path)
    return rows


def _content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()[:16]


def _check_csv(path: Path) -> tuple[str, list[str], int]:
    """The delimiter (the commonest of `,|;\\t` in the header), the columns, and the number of blank lines.

    Each line must have as many fields as the header: pandas, under `datasets`, pads a short line with empty
    values and may shift or cut a long first line, silently.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            header = f.readline()
            delimiter = max(DELIMITERS, key=header.count) if any(d in header for d in DELIMITERS) else ","
            f.seek(0)
            reader = csv.reader(f, delimiter=delimiter)
            columns = next(reader, None)
            if not columns:
                raise RecipeError(f"{path}: the file is empty.")
            if len(set(columns)) < len(columns) or not all(columns):
                raise RecipeError(f"{path}, line 1: each column needs a name of its own; the header has {columns}.")
            blank = rows = 0
            for fields in reader:
                if not any(fields):
                    blank += 1
                elif len(fields) != len(columns):
                    raise RecipeError(
                        f"{path}, line {reader.line_num}: {len(fields)} fields, but the header has {len(columns)} "
                        f"({delimiter!r}-separated: {columns}). Quote fields that contain the delimiter."
                    )
                else:
                    rows += 1
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    if not rows:
        raise _no_rows(path)
    return delimiter, columns, blank


def _json_start(path: Path) -> bytes:
    """The first byte of the JSON; a list must hold objects (`datasets` reads plain values as a `text` column)."""
    with path.open("rb") as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] == b"[" and head[1:].lstrip()[:1] not in (b"{", b"]", b""):
        raise RecipeError(f"{path}: expected a JSON list of objects, one per row.")
    return head[:1]


def _unwrap(path: Path, rows: Dataset) -> Dataset:
    """A .json object `{"data": [...]}` (any one key) reads as one row holding a list: its objects are the rows."""
    items = rows[0][rows.column_names[0]]
    if not isinstance(items, list):
        return rows  # one object: one row
    if not all(isinstance(item, dict) for item in items):
        raise RecipeError(f"{path}: expected a JSON list of objects, one per row.")
    columns = dict.fromkeys(key for item in items for key in item)
    return Dataset.from_dict({column: [item.get(column) for item in items] for column in columns})


def _explain(path: Path, kind: str, err: Exception) -> RecipeError:
    """The library's error on a file -> where the file goes wrong, found by a short scan of it."""
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            empty = pq.read_metadata(path).num_rows == 0
        except Exception as bad:  # noqa: BLE001 - pyarrow raises several types for a broken file
            return RecipeError(f"{path}: not a valid parquet file ({bad}).")
        if empty:
            return _no_rows(path)
    found = _not_utf8(path) or (_json_problem(path) if kind == "json" else None)
    cause = err.__cause__ or err
    return found or RecipeError(f"{path}: `datasets` could not read it as {kind} ({type(cause).__name__}: {cause}).")


def _not_utf8(path: Path) -> RecipeError | None:
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        return RecipeError(
            f"{path}, line {line}: bytes that are not UTF-8 ({data[err.start : err.start + 4]!r}). "
            "Re-save the file as UTF-8."
        )
    return None


def _json_problem(path: Path) -> RecipeError | None:
    """The line where the JSON breaks, a line of JSON lines that is not an object, or no rows at all."""
    text = path.read_text(encoding="utf-8-sig")
    if not text.strip():
        return _no_rows(path)
    json_lines = path.suffix.lower() == ".jsonl" or (text.lstrip().startswith("{") and "\n{" in text.strip())
    if not json_lines:  # one JSON value: a list of objects, {"data": [...]} or one object
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            return RecipeError(f"{path}, line {err.lineno}: not valid JSON ({err.msg}).")
        if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
            data = next(iter(data.values()))
        data = [data] if isinstance(data, dict) else data
        if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
            return RecipeError(f"{path}: expected a JSON list of objects, one per row.")
        return None if data else _no_rows(path)
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            row = json.loads(line) if line.strip() else {}
        except json.JSONDecodeError as err:
            return RecipeError(f"{path}, line {number}: not valid JSON ({err.msg}).")
        if not isinstance(row, dict):
            return RecipeError(f"{path}, line {number}: expected a JSON object, got {type(row).__name__}.")
    return None


def _no_rows(path: Path) -> RecipeError:
    return RecipeError(f"{path}: the file holds no rows.")
