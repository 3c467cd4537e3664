"""How a prompt is shown to a model: the one owner of that decision.

(being written)
"""

from datasets import Dataset

from rlhf_recipes.common.formats import prompt_turns


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



def preferences_as_chat(rows: Dataset) -> Dataset:
    """Plain-text preference pairs -> chat turns (HH transcripts become their turns)."""
    if len(rows) == 0 or isinstance(rows[0]["prompt"], list):
        return rows

    def to_chat(row):
        return {
            "prompt": prompt_turns(row["prompt"]),
            "chosen": [{"role": "assistant", "content": row["chosen"].strip()}],
            "rejected": [{"role": "assistant", "content": row["rejected"].strip()}],
        }

    return rows.map(to_chat)

