"""Reading a dataset (`files`): every accepted file layout through `datasets`, and a bad file named with its line."""

import json
import logging
import os

import pandas as pd
import pytest
from datasets import config as datasets_config

from rlhf_recipes.common import files, formats
from rlhf_recipes.common.errors import RecipeError
from tests.conftest import write_jsonl

ROWS = [
    {"prompt": "Describe the pizza.", "response": "Great, crisp; hot | cheap."},  # every delimiter, quoted in CSV
    {"prompt": "Describe the lake.", "response": "Cold."},
    {"prompt": "Describe the cat.", "response": "Asleep."},
]
JSON_LINES = "".join(json.dumps(row) + "\n" for row in ROWS)


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path, monkeypatch):
    """`datasets` caches in the test's own folder: no test reads another's cache, nor fills the user's."""
    cache = tmp_path / "datasets-cache"
    monkeypatch.setattr(datasets_config, "HF_DATASETS_CACHE", str(cache))
    return cache


def csv_writer(sep: str, encoding: str = "utf-8"):
    return lambda path: pd.DataFrame(ROWS).to_csv(path, sep=sep, index=False, encoding=encoding)


LAYOUTS = {
    "list.json": lambda path: path.write_text(json.dumps(ROWS, indent=2)),
    "wrapped.json": lambda path: path.write_text(json.dumps({"data": ROWS}, indent=2)),  # {"data": [...]}
    "lines.json": lambda path: path.write_text(JSON_LINES),  # JSON lines saved as .json
    "rows.jsonl": lambda path: path.write_text(JSON_LINES),
    "bom.jsonl": lambda path: path.write_text("\ufeff" + JSON_LINES),
    "comma.csv": csv_writer(","),
    "semicolon.csv": csv_writer(";"),
    "pipe.csv": csv_writer("|"),
    "bom.csv": csv_writer(",", encoding="utf-8-sig"),
    "tabs.tsv": csv_writer("\t"),
    "rows.parquet": lambda path: pd.DataFrame(ROWS).to_parquet(path),
}


@pytest.mark.parametrize("name", LAYOUTS)
def test_every_file_layout_gives_the_same_rows(tmp_path, name):
    path = tmp_path / name
    LAYOUTS[name](path)
    assert files.load_rows(str(path)).to_list() == ROWS


def test_a_json_list_of_one_row_holding_a_list_stays_one_row(tmp_path):
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    path = tmp_path / "chat.json"
    path.write_text(json.dumps([row]))
    assert files.load_rows(str(path)).to_list() == [row]


def test_rows_are_an_arrow_dataset_cached_by_datasets_away_from_the_data(tmp_path, datasets_cache):
    folder = tmp_path / "data"
    folder.mkdir()
    rows = files.load_rows(str(write_jsonl(folder / "sft.jsonl", ROWS)))
    assert rows.cache_files, "rows read from a file are memory-mapped from the datasets cache"
    assert all(cache["filename"].startswith(str(datasets_cache)) for cache in rows.cache_files)
    assert [p.name for p in folder.iterdir()] == ["sft.jsonl"]


def test_a_changed_file_is_read_again_even_with_its_old_mtime(tmp_path):
    path = write_jsonl(tmp_path / "sft.jsonl", ROWS)
    assert files.load_rows(str(path))["prompt"][1] == "Describe the lake."
    before = os.stat(path)
    path.write_text(JSON_LINES.replace("lake", "pond"))  # same size; then the old mtime back, as `cp -p` would
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size
    assert files.load_rows(str(path))["prompt"][1] == "Describe the pond."


def test_csv_values_stay_the_text_written(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("Prompt,id,score,note\nQ,007,1.50,NA\nR,8,,null\n")
    rows = files.load_rows(str(path))
    assert rows.to_list() == [
        {"Prompt": "Q", "id": "007", "score": "1.50", "note": "NA"},
        {"Prompt": "R", "id": "8", "score": "", "note": "null"},
    ]


def test_csv_scores_are_compared_as_numbers(tmp_path):
    path = tmp_path / "webgpt.csv"
    path.write_text("question,answer_0,answer_1,score_0,score_1\nQ,a,b,10,9.5\n")
    (pair,) = formats.to_preference_pairs(files.load_rows(str(path)), str(path)).to_list()
    assert pair == {"prompt": "Q", "chosen": "a", "rejected": "b"}  # as text, "9.5" > "10"


def test_blank_csv_lines_are_skipped_and_counted(tmp_path, caplog):
    path = tmp_path / "p.csv"
    path.write_text("prompt,response\na,b\n\nc,d\n,\n")
    with caplog.at_level(logging.WARNING):
        rows = files.load_rows(str(path))
    assert rows.to_list() == [{"prompt": "a", "response": "b"}, {"prompt": "c", "response": "d"}]
    assert "skipped 2 blank lines" in caplog.text


def test_columns_that_look_like_agent_traces_are_plain_rows(tmp_path):
    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    row = {"id": "1", "source": "s", "model": "m", "system_prompt": "Be brief.", "messages": turns}
    assert files.load_rows(str(write_jsonl(tmp_path / "chat.jsonl", [row]))).to_list() == [row]


def test_local_folder_with_splits(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", ROWS)
    write_jsonl(folder / "test.jsonl", ROWS[:1])
    assert files.load_rows(str(folder), "test").to_list() == ROWS[:1]
    assert files.load_splits(str(folder))["train"].to_list() == ROWS
    with pytest.raises(RecipeError, match="no split 'validation'.*'test', 'train'"):
        files.load_rows(str(folder), "validation")


def test_a_single_file_is_one_train_split(tmp_path):
    splits = files.load_splits(str(write_jsonl(tmp_path / "p.jsonl", ROWS)))
    assert list(splits) == ["train"] and splits["train"].to_list() == ROWS


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.jsonl", None, r"missing.jsonl: no such file"),
        ("notes.txt", "hello", r"notes.txt: unknown file type '.txt'"),
        ("empty.json", "[]", r"empty.json: the file holds no rows"),
        ("emptydata.json", '{"data": []}', r"emptydata.json: the file holds no rows"),
        ("empty.jsonl", "", r"empty.jsonl: the file holds no rows"),
        ("empty.csv", "", r"empty.csv: the file is empty"),
        ("header.csv", "prompt,response\n", r"header.csv: the file holds no rows"),
        ("bad.json", '[{"prompt": "a",\n "response": }]', r"bad.json, line 2: not valid JSON"),
        ("bad.jsonl", '{"prompt": "a", "response": "b"}\n{"prompt": "a"\n', r"bad.jsonl, line 2: not valid JSON"),
        ("list.jsonl", '{"prompt": "a"}\n\n[1, 2]\n', r"list.jsonl, line 3: expected a JSON object, got list"),
        ("strings.json", '["a", "b"]', r"strings.json: expected a JSON list of objects, one per row"),
        ("numbers.json", '{"data": [1, 2]}', r"numbers.json: expected a JSON list of objects, one per row"),
        ("latin1.jsonl", b'{"prompt": "a"}\n{"prompt": "caf\xe9"}\n', r"latin1.jsonl, line 2: bytes that are not UTF"),
        ("latin1.csv", b"prompt,response\ncaf\xe9,b\n", r"latin1.csv, line 2: bytes that are not UTF-8"),
        ("ragged.csv", "prompt,response\na,b\nc,d,e\n", r"ragged.csv, line 3: 3 fields, but the header has 2"),
        ("short.csv", "Prompt|Best|Worst\nQ|a|b\nQ2|a\n", r"short.csv, line 3: 2 fields, but the header has 3"),
        ("long.csv", "prompt,response\na,b,c\n", r"long.csv, line 2: 3 fields, but the header has 2"),
        ("twice.csv", "prompt,prompt\na,b\n", r"twice.csv, line 1: each column needs a name of its own"),
        ("bad.parquet", "not parquet", r"bad.parquet: not a valid parquet file"),
    ],
)
def test_a_bad_file_is_named_with_the_place_where_it_goes_wrong(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(RecipeError, match=message):
        files.load_rows(str(path))


def test_an_empty_parquet_file_holds_no_rows(tmp_path):
    path = tmp_path / "empty.parquet"
    pd.DataFrame({"prompt": pd.Series([], dtype=str)}).to_parquet(path)
    with pytest.raises(RecipeError, match=r"empty.parquet: the file holds no rows"):
        files.load_rows(str(path))


def test_unknown_hub_id_offline_is_explained():
    with pytest.raises(
        RecipeError, match="no-such-org/no-such-dataset.*not a local file or folder, and the hub could not provide it"
    ):
        files.load_rows("no-such-org/no-such-dataset")
