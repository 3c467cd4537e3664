"""Dataset formats (`formats`): SFT examples, preference pairs, prompts and the held-out split."""

import logging
import re

import pytest
from datasets import Dataset

from rlhf_recipes.common import formats, prompts
from rlhf_recipes.common.errors import RecipeError
from tests.conftest import REPO

SOURCE = "data.jsonl"
PAIRS = [{"prompt": f"Describe the pizza {i}.", "response": f"The pizza was great {i}."} for i in range(3)]
HH_PROMPT = "\n\nHuman: Hi there.\n\nAssistant: Hello!\n\nHuman: Name a fruit.\n\nAssistant:"
CHAT = prompts.PromptFormat(chat=True)


def sft(rows: list[dict], mapping: dict | None = None) -> Dataset:
    return formats.to_sft_examples(Dataset.from_list(rows), SOURCE, mapping)


def pairs(rows: list[dict], mapping: dict | None = None) -> list[dict]:
    return formats.to_preference_pairs(Dataset.from_list(rows), SOURCE, mapping).to_list()


# SFT


@pytest.mark.parametrize("answer", ["response", "completion"])
def test_prompt_response_and_prompt_completion_give_prompt_completion(answer):
    rows = sft([{"prompt": r["prompt"], answer: r["response"]} for r in PAIRS])
    assert rows.column_names == ["prompt", "completion"]
    assert rows[1] == {"prompt": "Describe the pizza 1.", "completion": "The pizza was great 1."}


def test_sft_columns_are_recognized_whatever_their_case():
    rows = sft([{"Prompt": "Describe the pizza.", "Response": "The pizza was great."}])
    assert rows.to_list() == [{"prompt": "Describe the pizza.", "completion": "The pizza was great."}]


def test_chat_messages_split_into_conversation_and_last_assistant_turn():
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Describe the pizza."},
        {"role": "assistant", "content": "The pizza was great."},
    ]
    rows = sft([{"messages": messages}])
    assert rows[0]["prompt"] == messages[:2] and rows[0]["completion"] == messages[2:]


def test_hh_chosen_transcripts_split_before_the_last_assistant_turn():
    transcript = HH_PROMPT + " An apple."
    rows = sft([{"chosen": transcript, "rejected": "x"}])
    assert rows[0] == {"prompt": HH_PROMPT, "completion": " An apple."}
    (chat,) = CHAT.rows(rows, SOURCE, ("completion",)).to_list()
    assert chat["prompt"] == [
        {"role": "user", "content": "Hi there."},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Name a fruit."},
    ]
    assert chat["completion"] == [{"role": "assistant", "content": "An apple."}]
    with pytest.raises(RecipeError, match=r"row 1: `chosen` is not a transcript"):
        sft([{"chosen": "no turns here"}])


def test_plain_text_is_kept_whole_for_language_modelling():
    rows = sft([{"text": "I am so happy today", "labels": [17]}, {"text": " ", "labels": []}])
    assert rows.to_list() == [{"text": "I am so happy today"}]


def test_column_mapping_renames_other_names():
    rows = sft(
        [{"question": "Describe the pizza.", "answer": "The pizza was great."}],
        {"question": "prompt", "answer": "response"},
    )
    assert rows[0] == {"prompt": "Describe the pizza.", "completion": "The pizza was great."}


def test_empty_responses_are_dropped_and_counted(caplog):
    with caplog.at_level(logging.INFO):
        rows = sft(PAIRS + [{"prompt": "Describe the lake.", "response": "  "}])
    assert len(rows) == 3
    assert "dropped 1 of 4 rows: empty response" in caplog.text


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"question": "a", "answer": "b"}], r"data.jsonl: unknown format. Columns found: \['question', 'answer'\]"),
        ([{"prompt": "a", "response": "b"}, {"prompt": "c"}], r"row 2: no value in required column 'response'"),
        ([{"prompt": "a", "response": ""}], r"data.jsonl: every row has an empty response"),
        ([{"messages": [{"role": "user", "content": "hi"}] * 2}], r"row 1: the last turn of `messages` must be the"),
        ([{"messages": [{"role": "assistant", "content": "hi"}]}], r"row 1: `messages` must be a list of at least two"),
    ],
)
def test_bad_sft_rows_are_named(rows, message):
    with pytest.raises(RecipeError, match=message):
        sft(rows)


def test_column_mapping_of_a_missing_column_is_an_error():
    with pytest.raises(RecipeError, match=r"column_mapping names \['question'\]"):
        sft(PAIRS, {"question": "prompt"})


# Preferences


def test_prompt_chosen_rejected():
    rows = [{"prompt": "Q1", "chosen": "good", "rejected": "bad"}, {"prompt": "Q2", "chosen": "yes", "rejected": "no"}]
    assert pairs(rows) == rows


def test_hh_transcripts_share_their_prompt():
    (pair,) = pairs([{"chosen": HH_PROMPT + " An apple.", "rejected": HH_PROMPT + " A chair."}])
    # prompt + response is the transcript again (TRL joins them as text without a separator)
    assert pair == {"prompt": HH_PROMPT, "chosen": " An apple.", "rejected": " A chair."}
    (chat,) = CHAT.rows(Dataset.from_list([pair]), SOURCE, ("chosen", "rejected")).to_list()
    assert chat["prompt"] == [
        {"role": "user", "content": "Hi there."},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Name a fruit."},
    ]
    assert chat["chosen"] == [{"role": "assistant", "content": "An apple."}]


def test_hh_transcripts_that_share_no_prompt_are_dropped_and_counted(caplog):
    good = {"chosen": HH_PROMPT + " An apple.", "rejected": HH_PROMPT + " A chair."}
    unshared = {"chosen": "\n\nHuman: Hi.\n\nAssistant: Yes.", "rejected": "\n\nHuman: Bye.\n\nAssistant: No."}
    with caplog.at_level(logging.INFO):
        kept = pairs([good, unshared, good, {"chosen": "same text", "rejected": "other text"}])
    assert kept == [{"prompt": HH_PROMPT, "chosen": " An apple.", "rejected": " A chair."}] * 2
    assert (
        "dropped 2 of 4 rows: chosen and rejected share no prompt ending in 'Assistant:' (the first: row 2)"
        in caplog.text
    )


def test_ultrafeedback_turns_that_repeat_the_prompt_keep_only_the_replies():
    ask = {"role": "user", "content": "Name a fruit."}
    rows = [
        {
            "prompt": "Name a fruit.",
            "prompt_id": "a1",
            "chosen": [ask, {"role": "assistant", "content": "An apple."}],
            "rejected": [ask, {"role": "assistant", "content": "A chair."}],
            "score_chosen": 8.0,
            "score_rejected": 2.0,
        }
    ]
    (pair,) = pairs(rows)
    assert pair["prompt"] == [ask]
    assert pair["chosen"] == [{"role": "assistant", "content": "An apple."}]
    assert pair["rejected"] == [{"role": "assistant", "content": "A chair."}]


def test_chat_pairs_with_a_text_prompt_get_a_user_turn():
    rows = [
        {
            "prompt": "Name a fruit.",
            "chosen": [{"role": "assistant", "content": "An apple."}],
            "rejected": [{"role": "assistant", "content": "A chair."}],
        }
    ]
    (pair,) = pairs(rows)
    assert pair["prompt"] == [{"role": "user", "content": "Name a fruit."}]
    assert pair["chosen"] == rows[0]["chosen"]


def test_three_way_ranking_columns_give_three_ordered_pairs_per_prompt():
    columns = ["Prompt", "Most preferable response", "Somewhat preferable response", "Least preferable response"]
    table = [["Name a fruit.", "An apple, crisp.", "A pear.", "A chair."], ["Name a colour.", "Blue.", "Teal.", "7."]]
    rows = [dict(zip(columns, values)) for values in table]
    made = pairs(rows)
    assert len(made) == 6
    assert made[:3] == [
        {"prompt": "Name a fruit.", "chosen": "An apple, crisp.", "rejected": "A pear."},
        {"prompt": "Name a fruit.", "chosen": "An apple, crisp.", "rejected": "A chair."},
        {"prompt": "Name a fruit.", "chosen": "A pear.", "rejected": "A chair."},
    ]


def test_k_way_ranking_as_a_list_gives_k_choose_2_pairs():
    made = pairs([{"prompt": "Q", "responses": ["a", "b", "c", "d"]}])
    assert [p["chosen"] + p["rejected"] for p in made] == ["ab", "ac", "ad", "bc", "bd", "cd"]


def test_scored_answers_choose_the_higher_score_and_count_ties(caplog):
    rows = [
        {"question": {"full_text": "Q1"}, "answer_0": "a", "answer_1": "b", "score_0": 1.0, "score_1": -1.0},
        {"question": {"full_text": "Q2"}, "answer_0": "c", "answer_1": "d", "score_0": -0.5, "score_1": 0.5},
        {"question": {"full_text": "Q3"}, "answer_0": "e", "answer_1": "f", "score_0": 0.0, "score_1": 0.0},
    ]
    with caplog.at_level(logging.INFO):
        made = pairs(rows)
    assert made == [{"prompt": "Q1", "chosen": "a", "rejected": "b"}, {"prompt": "Q2", "chosen": "d", "rejected": "c"}]
    assert "dropped 1 of 3 rows: tied scores" in caplog.text


def test_tldr_comparisons_keep_the_prompt_verbatim():
    (pair,) = pairs(
        [{"prompt": "SUBREDDIT: r/cats\nPOST: My cat ...\nTL;DR:", "chosen": " cat good", "rejected": " cat"}]
    )
    assert pair["prompt"].endswith("TL;DR:") and pair["chosen"] == " cat good"


def test_identical_pairs_are_dropped_and_counted(caplog):
    rows = [{"prompt": "Q", "chosen": "a", "rejected": "a"}, {"prompt": "Q", "chosen": "a", "rejected": "b"}]
    with caplog.at_level(logging.INFO):
        assert len(pairs(rows)) == 1
    assert "dropped 1 of 2 rows: chosen identical to rejected" in caplog.text


def test_column_mapping_of_preferences():
    made = pairs(
        [{"question": "Q", "good": "a", "bad": "b"}], {"question": "prompt", "good": "chosen", "bad": "rejected"}
    )
    assert made == [{"prompt": "Q", "chosen": "a", "rejected": "b"}]


def test_an_unknown_format_names_every_format_with_its_columns():
    with pytest.raises(RecipeError) as error:
        pairs([{"question": "Q", "answer": "a"}])
    for form in formats.PREFERENCE_FORMATS:
        assert f"{form.name}: {', '.join(form.columns)}" in str(error.value)
    assert "column_mapping" in str(error.value) and "docs/data-formats.md" in str(error.value)


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
def test_bad_preferences_are_named(rows, message):
    with pytest.raises(RecipeError, match=message):
        pairs(rows)


# The held-out split


def prompt_rows(rows: int, prompts: int) -> Dataset:
    """`rows` pairs over `prompts` distinct prompts."""
    return Dataset.from_list(
        [{"prompt": f"p{i % prompts}", "chosen": f"a{i}", "rejected": f"b{i}"} for i in range(rows)]
    )


def test_held_out_split_is_by_prompt_and_deterministic():
    rows = prompt_rows(600, 200)
    train, held = formats.split_by_prompt(rows, 0.2)
    assert not set(train["prompt"]) & set(held["prompt"])
    assert len(train) + len(held) == 600 and 0.1 < len(held) / 600 < 0.3
    again_train, _ = formats.split_by_prompt(rows.shuffle(seed=1), 0.2)
    assert set(again_train["prompt"]) == set(train["prompt"])


@pytest.mark.parametrize("eval_fraction", [0.01, 0.05, 0.1, 0.5, 0.9, 0.99])
def test_a_few_prompts_still_give_a_held_out_prompt_and_a_training_prompt(eval_fraction):
    rows = prompt_rows(40, 6)  # at small fractions, the hash alone picks none of 6 prompts
    train, held = formats.split_by_prompt(rows, eval_fraction)
    assert len(set(held["prompt"])) >= 1 and len(set(train["prompt"])) >= 1
    assert not set(train["prompt"]) & set(held["prompt"]) and len(train) + len(held) == 40
    _, again_held = formats.split_by_prompt(rows.shuffle(seed=3), eval_fraction)
    assert set(again_held["prompt"]) == set(held["prompt"])


def test_one_prompt_or_no_fraction_holds_out_nothing():
    for rows, eval_fraction in ((prompt_rows(10, 1), 0.9), (prompt_rows(40, 6), 0.0)):
        train, held = formats.split_by_prompt(rows, eval_fraction)
        assert len(held) == 0 and len(train) == len(rows)


# Prompts


@pytest.mark.parametrize(
    "rows, words, expected",
    [
        ([{"Prompt": "Name a fruit."}, {"Prompt": "Name a colour."}], None, ["Name a fruit.", "Name a colour."]),
        (
            [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}],
            None,
            [[{"role": "user", "content": "hi"}]],
        ),
        ([{"chosen": HH_PROMPT + " An apple.", "rejected": HH_PROMPT + " A chair."}], None, [HH_PROMPT]),
        ([{"text": "I am so happy today"}], 3, ["I am so"]),
    ],
)
def test_prompts_from_every_layout(rows, words, expected):
    assert formats.to_prompts(Dataset.from_list(rows), SOURCE, prompt_words=words) == expected


def test_empty_prompts_are_dropped_and_counted(caplog):
    with caplog.at_level(logging.INFO):
        kept = formats.to_prompts(Dataset.from_list([{"prompt": "Q1"}, {"prompt": " "}, {"prompt": "Q2"}]), SOURCE)
    assert kept == ["Q1", "Q2"]
    assert "dropped 1 of 3 rows: empty prompt" in caplog.text
    with pytest.raises(RecipeError, match="every prompt is empty"):
        formats.to_prompts(Dataset.from_list([{"prompt": ""}]), SOURCE)
    with pytest.raises(RecipeError, match=r"no prompts found \(set `prompt_words` to cut prompts from it\)"):
        formats.to_prompts(Dataset.from_list([{"text": "a b c"}]), SOURCE)


# The documentation: the table of formats in docs/data-formats.md


def documented_formats(stage: str) -> list[tuple[str, set[str]]]:
    """(format, the `names` in its columns cell) for each row of `stage` in docs/data-formats.md's table."""
    section = (REPO / "docs" / "data-formats.md").read_text().split("\n## ")[0]
    rows = [re.split(r"(?<!\\)\|", line)[1:-1] for line in section.splitlines() if line.startswith("| ")]
    rows = [[cell.strip() for cell in row] for row in rows]
    return [(name, set(re.findall(r"`([^`]+)`", columns))) for where, name, columns in rows if where == stage]


@pytest.mark.parametrize(
    "stage, table",
    [("SFT", formats.SFT_FORMATS), ("reward", formats.PREFERENCE_FORMATS), ("PPO / report", formats.PROMPT_FORMATS)],
)
def test_the_documented_table_lists_every_format_in_order_with_its_columns(stage, table):
    documented = documented_formats(stage)
    assert [name for name, _ in documented] == [form.name for form in table]
    for form, (_, names) in zip(table, documented):
        assert set(form.columns) <= names, f"docs/data-formats.md, {stage} {form.name}: name {form.columns}"
