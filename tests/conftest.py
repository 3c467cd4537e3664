"""Shared fixtures: offline, CPU, and the built-in tiny model built once per session."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from rlhf_recipes import tiny_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "recipes" / "quickstart"


@pytest.fixture(scope="session")
def tiny_dir() -> str:
    """The built-in tiny model folder (built into the cache on first use)."""
    return tiny_model.resolve(tiny_model.BUILTIN_TINY)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    import json

    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def run_stage(module, config: Path, *overrides: str):
    """Run a stage as its command line would: YAML plus overrides."""
    from rlhf_recipes.config import parse

    return module.main(*parse(module.make_parser(), ["--config", str(config), "--disable_tqdm", "true", *overrides]))


@pytest.fixture(scope="session")
def rankings_file(tmp_path_factory) -> Path:
    """300 four-way rankings of the built-in task in the pipe-separated CSV layout."""
    import csv

    from rlhf_recipes import task

    path = tmp_path_factory.mktemp("data") / "rankings.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, delimiter="|")
        writer.writerow(["Prompt", "Best response", "Second response", "Third response", "Worst response"])
        writer.writerows([r["prompt"], *r["responses"]] for r in task.ranking_rows(task.split_prompts()[0], 300, 4, 7))
    return path


@pytest.fixture(scope="session")
def trained_reward(tmp_path_factory, tiny_dir, rankings_file):
    """A reward stage run from the tiny base model: (trainer, output folder)."""
    from rlhf_recipes import reward

    output_dir = tmp_path_factory.mktemp("reward") / "reward"
    trainer = run_stage(
        reward, QUICKSTART / "reward.yaml",
        "--model_name_or_path", tiny_dir, "--dataset_name", str(rankings_file), "--output_dir", str(output_dir),
        "--num_train_epochs", "1", "--eval_steps", "20", "--logging_steps", "5",
    )  # fmt: skip
    return trainer, output_dir
