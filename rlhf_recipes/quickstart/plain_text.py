"""Plain text in the tiny model's pre-training style, for PPO-ptx and the alignment tax on the built-in task.

    recipes/quickstart/data/plain_train.jsonl   `ptx_dataset`: the text PPO-ptx keeps the policy fluent in
    recipes/quickstart/data/plain_eval.jsonl    the report's `plain_text`: each policy's LM loss on it

Both are fresh draws, with seeds of their own, from the distribution the tiny model was pre-trained on
(`tiny_model._pretraining_text`: instructions and reviews of every mood, not chat), one `text` per row:
the SFT data's plain-text format. The documents are short and the vocabulary small, so a few of the
held-out ones also occur among the training ones or in pre-training; the tax is measured on all of them.
"""

import json
import random
from pathlib import Path

from rlhf_recipes.quickstart import tiny_model

FILES = {"plain_train.jsonl": (2048, 11), "plain_eval.jsonl": (512, 12)}  # file: (documents, seed)


def documents(n: int, seed: int) -> list[str]:
    """`n` pre-training-style documents drawn with `seed` (without the eos token: readers add their own)."""
    rng = random.Random(seed)
    return [tiny_model._pretraining_text(rng, "") for _ in range(n)]


def write_plain_text(folder) -> None:
    """Write the plain-text files of `FILES` into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, (n, seed) in FILES.items():
        with open(folder / name, "w") as f:
            f.writelines(json.dumps({"text": text}) + "\n" for text in documents(n, seed))
