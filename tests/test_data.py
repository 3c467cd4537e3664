import json
import logging

import pandas as pd
import pytest

from rlhf_recipes.common import files, formats, prompts
from rlhf_recipes.common.errors import RecipeError
from tests.conftest import write_jsonl

PAIRS = [{"prompt": f"Describe the pizza {i}.", "response": f"The pizza was great {i}."} for i in range(3)]


def sft_rows(path, mapping=None):
    return formats.to_sft_examples(files.load_rows(str(path)), str(path), mapping)


def test_prompt_response_json_list(tmp_path):
    path = tmp_path / "sft.json"
    path.write_text(json.dumps(PAIRS, indent=2))
    rows = sft_rows(path)
    assert rows.column_names == ["prompt", "completion"]
    assert rows[1] == {"prompt": "Describe the pizza 1.", "completion": "The pizza was great 1."}


def test_prompt_completion_jsonl_csv_and_parquet_give_the_same_rows(tmp_path):
    frame = pd.DataFrame([{"prompt": r["prompt"], "completion": r["response"]} for r in PAIRS])
    write_jsonl(tmp_path / "a.jsonl", frame.to_dict("records"))
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.to_parquet(tmp_path / "a.parquet")
    loaded = [sft_rows(tmp_path / name).to_list() for name in ("a.jsonl", "a.csv", "a.parquet")]
    assert loaded[0] == loaded[1] == loaded[2] and len(loaded[0]) == 3


def test_chat_messages_split_into_conversation_and_last_assistant_turn(tmp_path):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Describe the pizza."},
        {"role": "assistant", "content": "The pizza was great."},
    ]
    rows = sft_rows(write_jsonl(tmp_path / "chat.jsonl", [{"messages": messages}]))
    assert rows[0]["prompt"] == messages[:2] and rows[0]["completion"] == messages[2:]


def test_hh_chosen_transcripts_split_before_the_last_assistant_turn(tmp_path):
    transcript = "\n\nHuman: Hi.\n\nAssistant: Hello!\n\nHuman: Name a fruit.\n\nAssistant: An apple."
    rows = sft_rows(write_jsonl(tmp_path / "hh.jsonl", [{"chosen": transcript, "rejected": "x"}]))
    assert rows[0]["prompt"] + rows[0]["completion"] == transcript
    assert rows[0]["completion"] == " An apple."
    (chat,) = prompts.as_chat(rows).to_list()
    assert chat["prompt"] == [{"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Hello!"},
                              {"role": "user", "content": "Name a fruit."}]  # fmt: skip
    assert chat["completion"] == [{"role": "assistant", "content": "An apple."}]
    with pytest.raises(RecipeError, match=r"row 1: `chosen` is not a transcript"):
        sft_rows(write_jsonl(tmp_path / "bad.jsonl", [{"chosen": "no turns here"}]))


def test_plain_text_is_kept_whole_for_language_modelling(tmp_path):
    rows = sft_rows(write_jsonl(tmp_path / "t.jsonl", [{"text": "I am so happy today", "labels": [17]}, {"text": " "}]))
    assert rows.to_list() == [{"text": "I am so happy today"}]


def test_column_mapping_renames_other_names(tmp_path):
    path = write_jsonl(tmp_path / "qa.jsonl", [{"question": "Describe the pizza.", "answer": "The pizza was great."}])
    rows = sft_rows(path, {"question": "prompt", "answer": "response"})
    assert rows[0] == {"prompt": "Describe the pizza.", "completion": "The pizza was great."}


def test_local_folder_with_splits(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", PAIRS)
    write_jsonl(tmp_path / "test.jsonl", PAIRS[:1])
    assert len(files.load_rows(str(tmp_path), "test")) == 1
    with pytest.raises(RecipeError, match="no split 'validation'.*'test', 'train'"):
        files.load_rows(str(tmp_path), "validation")


def test_empty_responses_are_dropped_and_counted(tmp_path, caplog):
    path = write_jsonl(tmp_path / "sft.jsonl", PAIRS + [{"prompt": "Describe the lake.", "response": "  "}])
    with caplog.at_level(logging.INFO):
        rows = sft_rows(path)
    assert len(rows) == 3
    assert "dropped 1 of 4 rows: empty response" in caplog.text


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.jsonl", None, r"missing.jsonl: no such file"),
        ("empty.json", "[]", r"empty.json: the file holds no rows"),
        ("bad.json", '[{"prompt": "a",\n "response": }]', r"bad.json, line 2: not valid JSON"),
        ("bad.jsonl", '{"prompt": "a", "response": "b"}\n{"prompt": "a"\n', r"bad.jsonl, line 2: not valid JSON"),
        ("ragged.csv", "prompt,response\na,b\nc,d,e\n", r"ragged.csv, line 3: 3 fields, but the header has 2"),
        ("latin1.csv", b"prompt,response\ncaf\xe9,b\n", r"latin1.csv, line 2: bytes that are not UTF-8"),
        ("cols.jsonl", '{"question": "a", "answer": "b"}\n', r"unknown format. Columns found: \['question', 'answer'\]"),
        ("hole.jsonl", '{"prompt": "a", "response": "b"}\n{"prompt": "c"}\n', r"row 2: no value in required column 'response'"),
        ("notes.txt", "hello", r"unknown file type '.txt'"),
        ("allempty.jsonl", '{"prompt": "a", "response": ""}\n', r"every row has an empty response"),
    ],
)
def test_bad_input_gives_a_clear_message_naming_file_and_place(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(RecipeError, match=message):
        sft_rows(path)


def test_chat_messages_must_end_with_the_assistant(tmp_path):
    path = write_jsonl(tmp_path / "chat.jsonl", [{"messages": [{"role": "user", "content": "hi"}] * 2}])
    with pytest.raises(RecipeError, match=r"row 1: the last turn of `messages` must be the assistant's"):
        sft_rows(path)


def test_column_mapping_of_a_missing_column_is_an_error(tmp_path):
    with pytest.raises(RecipeError, match=r"column_mapping names \['question'\]"):
        sft_rows(write_jsonl(tmp_path / "sft.jsonl", PAIRS), {"question": "prompt"})


def test_unknown_hub_id_offline_is_explained():
    with pytest.raises(RecipeError, match="no-such-org/no-such-dataset.*not a local file or folder, and the hub could not provide it"):
        files.load_rows("no-such-org/no-such-dataset")
