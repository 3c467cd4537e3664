import json
import logging

import pandas as pd
import pytest
from datasets import Dataset

from rlhf_recipes.common import files, formats, prompts
from rlhf_recipes.common.errors import RecipeError
from tests.conftest import write_jsonl


def pairs_of(path, mapping=None):
    return formats.to_preference_pairs(files.load_rows(str(path)), str(path), mapping).to_list()


def test_prompt_chosen_rejected(tmp_path):
    rows = [{"prompt": "Q1", "chosen": "good", "rejected": "bad"}, {"prompt": "Q2", "chosen": "yes", "rejected": "no"}]
    assert pairs_of(write_jsonl(tmp_path / "p.jsonl", rows)) == rows


def test_hh_transcripts_share_their_prompt(tmp_path):
    prompt = "\n\nHuman: Hi there.\n\nAssistant: Hello!\n\nHuman: Name a fruit.\n\nAssistant:"
    rows = [{"chosen": prompt + " An apple.", "rejected": prompt + " A chair."}]
    (pair,) = pairs_of(write_jsonl(tmp_path / "hh.jsonl", rows))
    # prompt + response is the transcript again (TRL joins them as text without a separator)
    assert pair == {"prompt": prompt, "chosen": " An apple.", "rejected": " A chair."}
    (chat,) = prompts.preferences_as_chat(Dataset.from_list([pair])).to_list()
    assert chat["prompt"] == [
        {"role": "user", "content": "Hi there."},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Name a fruit."},
    ]
    assert chat["chosen"] == [{"role": "assistant", "content": "An apple."}]


def test_ultrafeedback_turns_that_repeat_the_prompt_keep_only_the_replies(tmp_path):
    ask = {"role": "user", "content": "Name a fruit."}
    rows = [{"prompt": "Name a fruit.", "prompt_id": "a1",
             "chosen": [ask, {"role": "assistant", "content": "An apple."}],
             "rejected": [ask, {"role": "assistant", "content": "A chair."}],
             "score_chosen": 8.0, "score_rejected": 2.0}]  # fmt: skip
    (pair,) = pairs_of(write_jsonl(tmp_path / "uf.jsonl", rows))
    assert pair["prompt"] == [ask]
    assert pair["chosen"] == [{"role": "assistant", "content": "An apple."}]
    assert pair["rejected"] == [{"role": "assistant", "content": "A chair."}]


def test_chat_pairs_with_a_text_prompt_get_a_user_turn(tmp_path):
    rows = [{"prompt": "Name a fruit.", "chosen": [{"role": "assistant", "content": "An apple."}],
             "rejected": [{"role": "assistant", "content": "A chair."}]}]  # fmt: skip
    (pair,) = pairs_of(write_jsonl(tmp_path / "c.jsonl", rows))
    assert pair["prompt"] == [{"role": "user", "content": "Name a fruit."}]
    assert pair["chosen"] == rows[0]["chosen"]


def test_three_way_ranking_csv_with_pipes_gives_three_ordered_pairs_per_prompt(tmp_path):
    path = tmp_path / "ranked.csv"
    path.write_text(
        "Prompt|Most preferable response|Somewhat preferable response|Least preferable response\n"
        "Name a fruit.|An apple, crisp.|A pear.|A chair.\n"
        "Name a colour.|Blue.|Teal, maybe.|Seven.\n"
    )
    pairs = pairs_of(path)
    assert len(pairs) == 6
    assert pairs[:3] == [
        {"prompt": "Name a fruit.", "chosen": "An apple, crisp.", "rejected": "A pear."},
        {"prompt": "Name a fruit.", "chosen": "An apple, crisp.", "rejected": "A chair."},
        {"prompt": "Name a fruit.", "chosen": "A pear.", "rejected": "A chair."},
    ]


def test_k_way_ranking_as_a_json_list_gives_k_choose_2_pairs(tmp_path):
    path = tmp_path / "ranked.json"
    path.write_text(json.dumps([{"prompt": "Q", "responses": ["a", "b", "c", "d"]}]))
    assert len(pairs_of(path)) == 6


@pytest.mark.parametrize("sep, suffix", [(";", ".csv"), ("\t", ".tsv"), (",", ".csv")])
def test_any_common_csv_delimiter(tmp_path, sep, suffix):
    path = tmp_path / f"p{suffix}"
    pd.DataFrame([{"prompt": "Q", "chosen": "a, b", "rejected": "c"}]).to_csv(path, sep=sep, index=False)
    assert pairs_of(path) == [{"prompt": "Q", "chosen": "a, b", "rejected": "c"}]


def test_scored_answers_choose_the_higher_score_and_count_ties(tmp_path, caplog):
    rows = [
        {"question": {"full_text": "Q1"}, "answer_0": "a", "answer_1": "b", "score_0": 1.0, "score_1": -1.0},
        {"question": {"full_text": "Q2"}, "answer_0": "c", "answer_1": "d", "score_0": -0.5, "score_1": 0.5},
        {"question": {"full_text": "Q3"}, "answer_0": "e", "answer_1": "f", "score_0": 0.0, "score_1": 0.0},
    ]
    with caplog.at_level(logging.INFO):
        pairs = pairs_of(write_jsonl(tmp_path / "webgpt.jsonl", rows))
    assert pairs == [{"prompt": "Q1", "chosen": "a", "rejected": "b"}, {"prompt": "Q2", "chosen": "d", "rejected": "c"}]
    assert "dropped 1 of 3 rows: tied scores" in caplog.text


def test_tldr_comparisons_keep_the_prompt_verbatim(tmp_path):
    rows = [{"prompt": "SUBREDDIT: r/cats\nPOST: My cat ...\nTL;DR:", "chosen": " cat good", "rejected": " cat"}]
    (pair,) = pairs_of(write_jsonl(tmp_path / "tldr.jsonl", rows))
    assert pair["prompt"].endswith("TL;DR:") and pair["chosen"] == " cat good"


def test_identical_pairs_are_dropped_and_counted(tmp_path, caplog):
    rows = [{"prompt": "Q", "chosen": "a", "rejected": "a"}, {"prompt": "Q", "chosen": "a", "rejected": "b"}]
    with caplog.at_level(logging.INFO):
        assert len(pairs_of(write_jsonl(tmp_path / "p.jsonl", rows))) == 1
    assert "dropped 1 of 2 rows: chosen identical to rejected" in caplog.text


def test_parquet_and_column_mapping(tmp_path):
    path = tmp_path / "p.parquet"
    pd.DataFrame([{"question": "Q", "good": "a", "bad": "b"}]).to_parquet(path)
    pairs = pairs_of(path, {"question": "prompt", "good": "chosen", "bad": "rejected"})
    assert pairs == [{"prompt": "Q", "chosen": "a", "rejected": "b"}]


def test_held_out_split_is_by_prompt_and_deterministic():
    rows = Dataset.from_list(
        [{"prompt": f"prompt {i // 3}", "chosen": f"a{i}", "rejected": f"b{i}"} for i in range(600)]
    )
    train, held = formats.split_by_prompt(rows, 0.2)
    assert not set(train["prompt"]) & set(held["prompt"])
    assert len(train) + len(held) == 600 and 0.1 < len(held) / 600 < 0.3
    again_train, _ = formats.split_by_prompt(rows.shuffle(seed=1), 0.2)
    assert set(again_train["prompt"]) == set(train["prompt"])


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"prompt": "Q", "responses": ["only one"]}], r"row 1: a ranking needs at least two responses, found 1"),
        ([{"prompt": "Q", "answer_0": "a", "answer_1": "b", "score_0": 1, "score_1": 1}], "every pair is a tie"),
        ([{"prompt": "Q", "chosen": "a", "rejected": "a"}], "every pair is a tie or has chosen identical"),
        ([{"question": "Q", "answer": "a"}], r"unknown preference format. Columns found: \['question', 'answer'\]"),
        ([{"chosen": "same text", "rejected": "other text"}], r"row 1: chosen and rejected share no prompt"),
    ],
)
def test_bad_preferences_are_named(tmp_path, rows, message):
    with pytest.raises(RecipeError, match=message):
        pairs_of(write_jsonl(tmp_path / "p.jsonl", rows))


def test_ragged_pipe_csv_names_the_line(tmp_path):
    path = tmp_path / "ranked.csv"
    path.write_text("Prompt|Best response|Worst response\nQ|a|b\nQ2|a\n")
    with pytest.raises(RecipeError, match=r"ranked.csv, line 3: 2 fields, but the header has 3"):
        pairs_of(path)
