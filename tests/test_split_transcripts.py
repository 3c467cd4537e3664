"""Chosen/rejected transcripts split into prompt and replies (`formats.split_transcripts`)."""

import pytest
from datasets import Dataset

from rlhf_recipes.common import formats
from rlhf_recipes.common.errors import RecipeError


def turn(role: str, content: str) -> dict:
    return {"role": role, "content": content}


ASK, HI, AGAIN = turn("user", "Name a fruit."), turn("assistant", "Hello!"), turn("user", "Another one.")


@pytest.mark.parametrize(
    "chosen, rejected, shared",
    [
        ([ASK, turn("assistant", "An apple.")], [ASK, turn("assistant", "A chair.")], 1),
        ([ASK, HI, AGAIN, turn("assistant", "A pear.")], [ASK, HI, AGAIN, turn("assistant", "7.")], 3),
        ([ASK, turn("assistant", "A pear.")], [turn("user", "Other."), turn("assistant", "7.")], 0),
        ([ASK, HI], [ASK, HI, AGAIN], 1),  # one is the other's start: each side keeps a turn
        ([ASK, HI], [ASK, HI], 1),
        ([], [ASK, HI], 0),
    ],
)
def test_chat_turns_split_after_their_longest_shared_run(chosen, rejected, shared):
    assert formats.split_transcripts(chosen, rejected) == {
        "prompt": chosen[:shared],
        "chosen": chosen[shared:],
        "rejected": rejected[shared:],
    }


@pytest.mark.parametrize("chosen", ["\n\nHuman: Hi.\n\nAssistant: Yes.", [ASK, HI]], ids=["text", "chat"])
def test_an_empty_cell_in_a_transcript_pair_names_its_row(chosen):
    rows = Dataset.from_list([{"chosen": chosen, "rejected": chosen}, {"chosen": chosen, "rejected": None}])
    with pytest.raises(RecipeError, match=r"data.jsonl, row 2: `chosen` and `rejected` must both be transcripts"):
        formats.to_preference_pairs(rows, "data.jsonl")
