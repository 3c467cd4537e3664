"""Each real recipe's data path, offline: a few rows written in exactly its hub dataset's layout
(file names, splits, configs, columns), read by the stage loaders with the recipe's own settings."""

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from transformers import AutoTokenizer

from rlhf_recipes import methods, reward, sft
from rlhf_recipes.common import artifacts, stage_data
from rlhf_recipes.common.parsing import parse
from rlhf_recipes.common.prompts import choose_format, saved_format
from tests.conftest import REPO

RECIPES = REPO / "recipes"
STAGES = methods.available()
PARSERS = {"sft": sft.make_parser, "reward": reward.make_parser, "ppo": STAGES["ppo"].make_parser}
THIRD_STAGE_PARSERS = {name: STAGES[name].make_parser for name in ("rloo", "grpo", "dpo")}


def recipe_args(recipe: str, stage: str, dataset: Path | None = None) -> tuple:
    """The recipe's parsed YAML; `dataset` replaces its hub id by the local copy."""
    overrides = ["--dataset_name", str(dataset)] if dataset else []
    parser = (PARSERS | THIRD_STAGE_PARSERS)[stage]()
    return parse(parser, ["--config", str(RECIPES / recipe / f"{stage}.yaml"), *overrides])


def hub_id(recipe: str, stage: str) -> str:
    return recipe_args(recipe, stage)[0].dataset_name


def write_parquet(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)


def write_card(folder: Path, configs: dict[str, dict[str, str]]) -> None:
    """A dataset card whose `configs` map splits to files, as hub repos declare them."""
    lines = ["---", "configs:"]
    for name, splits in configs.items():
        lines += [f"- config_name: {name}", "  data_files:"]
        lines += [f"  - split: {split}\n    path: {path}" for split, path in splits.items()]
    (folder / "README.md").write_text("\n".join(lines + ["---", ""]))


def as_shown(script_args, tokenizer):
    """The prompt format a stage chooses with these settings for a model that saved none."""
    return choose_format(script_args, tokenizer, model_path=str(REPO / "recipes"))


def sft_examples(script_args, tokenizer, split="train"):
    split_name = script_args.dataset_train_split if split == "train" else script_args.dataset_test_split
    return stage_data.sft_examples(script_args, split_name, as_shown(script_args, tokenizer))


def preference_pairs(script_args, tokenizer):
    return stage_data.preference_pairs(script_args, as_shown(script_args, tokenizer))


def group_prompts(script_args, tokenizer, split="train") -> list:
    """Prompts as the RLOO and GRPO trainers take them (chat turns, or text in the template)."""
    return stage_data.prompt_rows(script_args, split, as_shown(script_args, tokenizer), tokenizer)["prompt"]


def assert_same_pairs_as_the_reward_stage(recipe: str, dataset: Path, tokenizer) -> None:
    """DPO reads the reward stage's pairs and held-out split, from the same data."""
    assert hub_id(recipe, "dpo") == hub_id(recipe, "reward")
    ours = preference_pairs(recipe_args(recipe, "dpo", dataset)[0], tokenizer)
    theirs = preference_pairs(recipe_args(recipe, "reward", dataset)[0], tokenizer)
    assert [len(rows) for rows in ours] == [len(rows) for rows in theirs] and ours[0][0] == theirs[0][0]


def prompts_of(script_args, tokenizer, split="train") -> list[str]:
    rows = stage_data.prompt_ids(script_args, split, as_shown(script_args, tokenizer), tokenizer)
    return [tokenizer.decode(ids) for ids in rows["input_ids"]]


# Anthropic/hh-rlhf: <subset>/{train,test}.jsonl.gz with `chosen`/`rejected` transcripts.
def transcript(i: int, reply: str) -> str:
    return f"\n\nHuman: Hi.\n\nAssistant: Hello!\n\nHuman: Name a pet, please ({i}).\n\nAssistant: {reply}"


@pytest.fixture(scope="module")
def hh_rlhf(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hh-rlhf")
    for subset in ("harmless-base", "helpful-base"):
        (folder / subset).mkdir()
        for split, count in (("train", 6), ("test", 2)):
            rows = [{"chosen": transcript(i, "A cat."), "rejected": transcript(i, "No.")} for i in range(count)]
            with gzip.open(folder / subset / f"{split}.jsonl.gz", "wt") as f:
                f.writelines(json.dumps(row) + "\n" for row in rows)
    return folder


def test_hh_rlhf_qwen_recipe_reads_hh_transcripts(hh_rlhf, chat_tokenizer):
    recipe = "hh-rlhf-qwen2.5-0.5b"
    assert {hub_id(recipe, s) for s in PARSERS} == {"Anthropic/hh-rlhf"}
    turns = [
        {"role": "user", "content": "Hi."},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Name a pet, please (0)."},
    ]

    script_args, _, _ = recipe_args(recipe, "sft", hh_rlhf)
    examples = sft_examples(script_args, chat_tokenizer)
    assert len(examples) == 12 and examples[0]["prompt"] == turns
    assert examples[0]["completion"] == [{"role": "assistant", "content": "A cat."}]
    assert len(sft_examples(script_args, chat_tokenizer, "test")) == 4

    train, held_out = preference_pairs(recipe_args(recipe, "reward", hh_rlhf)[0], chat_tokenizer)
    assert (len(train), len(held_out)) == (12, 4)  # the test split is the held-out set
    assert train[0]["prompt"] == turns and train[0]["rejected"] == [{"role": "assistant", "content": "No."}]

    prompts = prompts_of(recipe_args(recipe, "ppo", hh_rlhf)[0], chat_tokenizer)
    assert len(prompts) == 12 and "Name a pet, please" in prompts[0] and "A cat" not in prompts[0]
    for stage in ("rloo", "grpo"):  # the same prompts as PPO's, as chat turns
        assert hub_id(recipe, stage) == "Anthropic/hh-rlhf"
        assert group_prompts(recipe_args(recipe, stage, hh_rlhf)[0], chat_tokenizer)[0] == turns
    assert_same_pairs_as_the_reward_stage(recipe, hh_rlhf, chat_tokenizer)

    from rlhf_recipes.common import files, formats
    from rlhf_recipes.evaluation import report

    (report_args,) = parse(report.make_parser(), ["--config", str(RECIPES / recipe / "report.yaml")])
    assert (report_args.prompts, report_args.split) == ("Anthropic/hh-rlhf", "test")
    held_out = formats.to_prompts(files.load_rows(str(hh_rlhf), report_args.split), "hh-rlhf")
    assert len(held_out) == 4 and held_out[0].endswith("\n\nAssistant:")


# trl-lib/tldr and trl-lib/tldr-preference: data/<split>-00000-of-00001.parquet.
TLDR_PROMPT = (
    "SUBREDDIT: r/cooking\n\nTITLE: Burnt rice again\n\nPOST: Every time I cook rice it sticks. ({})\n\nTL;DR:"
)


@pytest.fixture(scope="module")
def tldr(tmp_path_factory) -> tuple[Path, Path]:
    sft_folder, preference_folder = tmp_path_factory.mktemp("tldr"), tmp_path_factory.mktemp("tldr-preference")
    for split, count in (("train", 8), ("validation", 3), ("test", 3)):
        rows = [{"prompt": TLDR_PROMPT.format(i), "completion": " my rice keeps burning"} for i in range(count)]
        write_parquet(sft_folder / "data" / f"{split}-00000-of-00001.parquet", rows)
    for split, count in (("train", 8), ("validation", 4)):
        rows = [
            {"prompt": TLDR_PROMPT.format(i), "chosen": " rice sticks to the pot", "rejected": " food"}
            for i in range(count)
        ]
        write_parquet(preference_folder / "data" / f"{split}-00000-of-00001.parquet", rows)
    return sft_folder, preference_folder


def test_tldr_pythia_recipe_reads_tldr_posts_and_comparisons(tldr, plain_tokenizer):
    recipe = "tldr-pythia-1b"
    assert (hub_id(recipe, "sft"), hub_id(recipe, "reward"), hub_id(recipe, "ppo")) == (
        "trl-lib/tldr",
        "trl-lib/tldr-preference",
        "trl-lib/tldr",
    )
    sft_folder, preference_folder = tldr

    script_args, training_args, _ = recipe_args(recipe, "sft", sft_folder)
    examples = sft_examples(script_args, plain_tokenizer)
    assert len(examples) == 8 and examples[0]["prompt"].endswith("TL;DR:")
    assert len(sft_examples(script_args, plain_tokenizer, "test")) == 3
    assert training_args.pad_token == "<|padding|>"

    train, held_out = preference_pairs(recipe_args(recipe, "reward", preference_folder)[0], plain_tokenizer)
    assert (len(train), len(held_out)) == (8, 4)
    assert train[0]["prompt"] + train[0]["chosen"] == TLDR_PROMPT.format(0) + " rice sticks to the pot"

    prompts = prompts_of(recipe_args(recipe, "ppo", sft_folder)[0], plain_tokenizer)
    assert len(prompts) == 8 and prompts[0].rstrip().endswith("TL;DR:")
    for stage in ("rloo", "grpo"):  # the same prompts as PPO's, as plain text
        assert hub_id(recipe, stage) == "trl-lib/tldr"
        assert group_prompts(recipe_args(recipe, stage, sft_folder)[0], plain_tokenizer) == [
            TLDR_PROMPT.format(i) for i in range(8)
        ]
    assert_same_pairs_as_the_reward_stage(recipe, preference_folder, plain_tokenizer)


# google-research-datasets/go_emotions: configs raw/simplified, simplified/<split>-00000-of-00001.parquet.
COMMENTS = ["I am so happy for you, congratulations!", "This is the worst day ever.", "Thanks, that made me smile."]


@pytest.fixture(scope="module")
def go_emotions(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("go_emotions")
    for split in ("train", "validation", "test"):
        rows = [{"text": text, "labels": [17], "id": f"e{i}"} for i, text in enumerate(COMMENTS)]
        write_parquet(folder / "simplified" / f"{split}-00000-of-00001.parquet", rows)
    write_parquet(folder / "raw" / "train-00000-of-00001.parquet", [{"text": "raw row", "id": "r0", "joy": 1}])
    write_card(
        folder,
        {
            "raw": {"train": "raw/train-*"},
            "simplified": {s: f"simplified/{s}-*" for s in ("train", "validation", "test")},
        },
    )
    return folder


def test_emotion_gpt2_recipe_reads_goemotions_comments(go_emotions, plain_tokenizer):
    recipe = "emotion-gpt2"
    assert not (RECIPES / recipe / "reward.yaml").exists()  # the reward is a trained classifier
    script_args, _, _ = recipe_args(recipe, "sft", go_emotions)
    assert script_args.dataset_config == "simplified"
    examples = sft_examples(script_args, plain_tokenizer)
    assert examples.column_names == ["text"] and examples["text"] == COMMENTS

    script_args, training_args, _ = recipe_args(recipe, "ppo", go_emotions)
    assert (training_args.reward_model_path, script_args.reward_classifier_label) == (
        "SamLowe/roberta-base-go_emotions",
        "joy",
    )
    prompts = prompts_of(script_args, plain_tokenizer)
    assert [p.strip() for p in prompts] == [" ".join(text.split()[: script_args.prompt_words]) for text in COMMENTS]


# HuggingFaceH4/ultrafeedback_binarized: data/<split>-00000-of-00001.parquet, six named splits in the card.
ULTRAFEEDBACK_SPLITS = ("train_prefs", "test_prefs", "train_sft", "test_sft", "train_gen", "test_gen")


@pytest.fixture(scope="module")
def ultrafeedback(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ultrafeedback_binarized")
    for split in ULTRAFEEDBACK_SPLITS:
        rows = []
        for i in range(4):
            ask = {"role": "user", "content": f"Write a haiku about rain ({i})."}
            good, bad = (
                {"role": "assistant", "content": "Soft rain on the roof"},
                {"role": "assistant", "content": "No."},
            )
            rows.append(
                {
                    "prompt": ask["content"],
                    "prompt_id": f"p{i}",
                    "chosen": [ask, good],
                    "rejected": [ask, bad],
                    "messages": [ask, good],
                    "score_chosen": 8.0,
                    "score_rejected": 3.0,
                }
            )
        write_parquet(folder / "data" / f"{split}-00000-of-00001.parquet", rows)
    write_card(folder, {"default": {s: f"data/{s}-*" for s in ULTRAFEEDBACK_SPLITS}})
    return folder


def test_ultrafeedback_qlora_recipe_reads_the_binarized_splits(ultrafeedback, chat_tokenizer):
    recipe = "ultrafeedback-qwen2.5-7b-qlora"
    assert {hub_id(recipe, s) for s in PARSERS} == {"HuggingFaceH4/ultrafeedback_binarized"}
    ask = [{"role": "user", "content": "Write a haiku about rain (0)."}]

    script_args, _, model_args = recipe_args(recipe, "sft", ultrafeedback)
    assert model_args.load_in_4bit and model_args.use_peft
    examples = sft_examples(script_args, chat_tokenizer)
    assert examples[0]["prompt"] == ask and examples[0]["completion"][0]["content"] == "Soft rain on the roof"

    train, held_out = preference_pairs(recipe_args(recipe, "reward", ultrafeedback)[0], chat_tokenizer)
    assert (len(train), len(held_out)) == (4, 4)
    assert train[0]["prompt"] == ask  # the prompt turn is not repeated inside chosen/rejected
    assert train[0]["chosen"] == [{"role": "assistant", "content": "Soft rain on the roof"}]

    prompts = prompts_of(recipe_args(recipe, "ppo", ultrafeedback)[0], chat_tokenizer, "train_gen")
    assert len(prompts) == 4 and "haiku about rain (0)" in prompts[0]

    _, _, dpo_model = recipe_args(recipe, "dpo", ultrafeedback)
    assert dpo_model.load_in_4bit and dpo_model.use_peft and dpo_model.lora_task_type == "CAUSAL_LM"
    assert_same_pairs_as_the_reward_stage(recipe, ultrafeedback, chat_tokenizer)


def test_tutorial_gpt2_recipe_reads_its_shipped_files(plain_tokenizer):
    """The tutorial layout: a JSON list of prompt/response, a '|'-separated ranking CSV, a `Prompt` CSV."""
    recipe = "tutorial-gpt2"
    script_args, training_args, _ = recipe_args(recipe, "sft")
    assert training_args.pad_token == "<|pad|>"
    sft_format = as_shown(script_args, plain_tokenizer)  # saved with the SFT model; the later stages read it
    examples = stage_data.sft_examples(script_args, script_args.dataset_train_split, sft_format)
    assert len(examples) == len(json.loads(Path(script_args.dataset_name).read_text()))
    assert examples[0]["prompt"] == "Question: What is the capital of France?\nAnswer:\n"

    script_args, _, _ = recipe_args(recipe, "reward")
    train, held_out = stage_data.preference_pairs(script_args, sft_format)
    rankings = Path(script_args.dataset_name).read_text().strip().splitlines()[1:]
    assert len(train) + len(held_out) == 3 * len(rankings) and len(held_out) > 0  # 3 pairs per 3-way ranking
    assert len(train) and all(p.startswith("Question: ") for p in train["prompt"])

    script_args, _, _ = recipe_args(recipe, "ppo")
    rows = stage_data.prompt_ids(script_args, script_args.dataset_train_split, sft_format, plain_tokenizer)
    prompts = [plain_tokenizer.decode(ids) for ids in rows["input_ids"]]
    assert len(prompts) == 16 and all(p.endswith("\nAnswer:\n") for p in prompts)


@pytest.mark.slow
def test_tutorial_gpt2_recipe_runs_all_stages_on_a_model_like_gpt2(tiny_dir, tmp_path):
    """The three tutorial YAMLs as shipped, on the tiny model made GPT-2-like (no pad token, no chat template):
    SFT adds the pad token and grows the embeddings, the reward and PPO stages inherit it."""
    from transformers import AutoModelForCausalLM

    from rlhf_recipes.methods import ppo
    from tests.conftest import run_stage

    gpt2_like = tmp_path / "gpt2-like"
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    tokenizer.pad_token, tokenizer.chat_template = None, None
    tokenizer.save_pretrained(gpt2_like)
    AutoModelForCausalLM.from_pretrained(tiny_dir).save_pretrained(gpt2_like)
    out = {stage: str(tmp_path / stage) for stage in ("sft", "reward", "ppo")}
    recipe = RECIPES / "tutorial-gpt2"
    run_stage(
        sft,
        recipe / "sft.yaml",
        "--model_name_or_path",
        str(gpt2_like),
        "--pad_token",
        "<|newpad|>",
        "--output_dir",
        out["sft"],
    )
    trainer = run_stage(
        reward, recipe / "reward.yaml", "--model_name_or_path", out["sft"], "--output_dir", out["reward"]
    )
    assert trainer.processing_class.pad_token == "<|newpad|>"
    trainer = run_stage(
        ppo,
        recipe / "ppo.yaml",
        "--sft_model_path",
        out["sft"],
        "--reward_model_path",
        out["reward"],
        "--output_dir",
        out["ppo"],
        "--total_episodes",
        "32",
        "--num_sample_generations",
        "0",
    )
    assert trainer.processing_class.pad_token_id == len(tokenizer)  # the new row, not eos
    policy = AutoModelForCausalLM.from_pretrained(Path(out["ppo"]) / artifacts.MERGED_DIR)
    assert policy.get_input_embeddings().num_embeddings == len(tokenizer) + 1

    from rlhf_recipes.evaluation import report

    result = run_report(
        report,
        recipe / "report.yaml",
        "--policy",
        out["ppo"],
        "--reference",
        out["sft"],
        "--reward_model",
        out["reward"],
        "--output_dir",
        str(tmp_path / "report"),
    )
    assert result["policy_vs_reference"]["num_prompts"] == 8
    for stage in ("sft", "reward", "ppo"):  # the SFT stage's template travelled with every model, to the report
        assert saved_format(Path(out[stage]) / artifacts.MERGED_DIR).template == "Question: {prompt}\nAnswer:\n"
    assert (tmp_path / "report" / "report.md").exists()


def run_report(module, config: Path, *overrides: str) -> dict:
    return module.main(*parse(module.make_parser(), ["--config", str(config), *overrides]))
