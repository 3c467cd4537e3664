"""Shared fixtures: offline, CPU, the built-in tiny model (the shipped build) and an empty cache."""

import atexit
import os
import shutil
import tempfile

# A new, empty cache, as on a new machine (where a tiny model of changed source would be built), never one a
# developer's runs filled; datasets' Arrow cache of the test files goes to a temporary folder too.
# trackio reads its storage folder once, when first imported (TRL's trainers import it): TRACKIO_DIR too.
for cache in ("RLHF_RECIPES_CACHE", "HF_DATASETS_CACHE", "TRACKIO_DIR"):
    os.environ[cache] = tempfile.mkdtemp(prefix=f"{cache.lower()}-")
    atexit.register(shutil.rmtree, os.environ[cache], ignore_errors=True)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402 (after the environment above)

import pytest  # noqa: E402

from rlhf_recipes.quickstart import tiny_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "recipes" / "quickstart"


@pytest.fixture(scope="session")
def tiny_dir() -> str:
    """The built-in tiny model folder: the build shipped in the package, as every user gets it."""
    return tiny_model.resolve(tiny_model.BUILTIN_TINY)


@pytest.fixture(scope="module")
def chat_tokenizer(tiny_dir):
    """The tiny model's tokenizer, which has a chat template."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_dir)


@pytest.fixture(scope="module")
def plain_tokenizer(tiny_dir):
    """A tokenizer without a chat template, as GPT-2's and Pythia's."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    tokenizer.chat_template = None
    return tokenizer


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    import json

    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def run_stage(module, config: Path, *overrides: str):
    """Run a stage as its command line would: YAML plus overrides."""
    from rlhf_recipes.common.parsing import parse

    return module.main(*parse(module.make_parser(), ["--config", str(config), "--disable_tqdm", "true", *overrides]))


def assert_only_the_adapter_trained(model, base_dir) -> None:
    """The base weights in `model` (a peft model) are those of `base_dir`, and every LoRA B matrix moved."""
    import torch
    from safetensors.torch import load_file

    base = load_file(f"{base_dir}/model.safetensors")
    state = {
        k.replace("base_model.model.", "").replace(".base_layer", ""): v.detach() for k, v in model.state_dict().items()
    }
    lora_b = [v for k, v in state.items() if "lora_B" in k]
    assert lora_b and all(v.abs().sum() > 0 for v in lora_b)
    assert base and all(torch.equal(base[k], state[k]) for k in base)


def accelerate_launch(
    accelerate_config: str, stage: str, *args: str, launcher_args: tuple = (), env: dict | None = None
) -> str:
    """`accelerate launch --config_file accelerate_configs/<name>.yaml -m <the stage's module>`; its log.

    The stage reads its quickstart YAML plus `args`; `launcher_args` go to accelerate (e.g. --num_processes).
    """
    import os
    import subprocess
    import sys

    from rlhf_recipes import methods
    from rlhf_recipes.pipeline import FIRST_STAGES

    module = {**FIRST_STAGES, **methods.available()}[stage].main.__module__
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(REPO / "accelerate_configs" / f"{accelerate_config}.yaml"),
        *launcher_args,
        "-m",
        module,
        "--config",
        str(QUICKSTART / f"{stage}.yaml"),
        "--disable_tqdm",
        "true",
        *args,
    ]
    done = subprocess.run(
        command, env=os.environ | {"PYTHONPATH": str(REPO)} | (env or {}), capture_output=True, text=True, timeout=600
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    return log


@pytest.fixture(scope="session")
def rankings_file(tmp_path_factory) -> Path:
    """300 four-way rankings of the built-in task in the pipe-separated CSV layout."""
    import csv

    from rlhf_recipes.quickstart import task

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
        reward,
        QUICKSTART / "reward.yaml",
        "--model_name_or_path",
        tiny_dir,
        "--dataset_name",
        str(rankings_file),
        "--output_dir",
        str(output_dir),
        "--num_train_epochs",
        "1",
        "--eval_steps",
        "20",
        "--logging_steps",
        "5",
    )
    return trainer, output_dir


@pytest.fixture(scope="session")
def prompts_file(tmp_path_factory):
    """The built-in task's training prompts, one per row of a CSV with a `Prompt` column."""
    import csv

    from rlhf_recipes.quickstart import task

    path = tmp_path_factory.mktemp("prompts") / "prompts.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([["Prompt"]] + [[p] for p in task.split_prompts()[0]])
    return path


@pytest.fixture(scope="session")
def emotion_classifier(tmp_path_factory):
    """A tiny two-label classifier with its own (different) tokenizer: labels `neutral` and `joy`."""
    import torch
    from tokenizers import Tokenizer, pre_tokenizers, trainers
    from tokenizers import models as tok_models
    from transformers import LlamaConfig, LlamaForSequenceClassification, PreTrainedTokenizerFast

    from rlhf_recipes.quickstart import task

    backend = Tokenizer(tok_models.WordLevel(unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.train_from_iterator(
        task.split_prompts()[0] + ["great lovely awful"], trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]"])
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        id2label={0: "neutral", 1: "joy"},
        label2id={"neutral": 0, "joy": 1},
    )
    path = tmp_path_factory.mktemp("classifier") / "emotion"
    LlamaForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
