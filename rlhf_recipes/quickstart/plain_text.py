"""Plain text in the tiny model's pre-training style (`tiny_model._pretraining_text`): `plain_train.jsonl` for
PPO-ptx and `plain_eval.jsonl` for the alignment tax on the built-in task (docs/ptx.md, "The alignment tax")."""

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
