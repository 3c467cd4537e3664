import shutil

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForSequenceClassification

from rlhf_recipes.common import artifacts, stage_data
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.prompts import PromptFormat
from rlhf_recipes.evaluation import sampling
from rlhf_recipes.methods import ppo
from rlhf_recipes.quickstart import task
from tests.conftest import QUICKSTART, run_stage

SMALL = [
    "--total_episodes",
    "64",
    "--per_device_train_batch_size",
    "16",
    "--local_rollout_forward_batch_size",
    "16",
    "--num_ppo_epochs",
    "2",
    "--response_length",
    "12",
    "--num_sample_generations",
    "0",
    "--report_to",
    "none",
]


def run_ppo(output_dir, policy, reward_dir, prompts, *overrides):
    return run_stage(
        ppo,
        QUICKSTART / "ppo.yaml",
        "--sft_model_path",
        str(policy),
        "--reward_model_path",
        str(reward_dir),
        "--dataset_name",
        str(prompts),
        "--output_dir",
        str(output_dir),
        *SMALL,
        *overrides,
    )


@pytest.fixture(scope="module")
def trained_ppo(tmp_path_factory, tiny_dir, trained_reward, prompts_file):
    _, reward_dir = trained_reward
    output_dir = tmp_path_factory.mktemp("ppo") / "ppo"
    return run_ppo(output_dir, tiny_dir, reward_dir, prompts_file), output_dir


def test_only_the_adapter_and_value_model_are_trained(trained_ppo, tiny_dir, trained_reward):
    trainer, _ = trained_ppo
    base = load_file(f"{tiny_dir}/model.safetensors")
    policy = {
        k.replace("base_model.model.", "").replace(".base_layer", ""): v.detach()
        for k, v in trainer.model.policy.state_dict().items()
    }
    shared = [k for k in base if k in policy]
    lora_b = [v for k, v in policy.items() if "lora_B" in k]
    assert len(shared) == len(base) and all(torch.equal(base[k], policy[k]) for k in shared)
    assert lora_b and all(v.abs().sum() > 0 for v in lora_b)
    reward = load_file(f"{trained_reward[1]}/{artifacts.MERGED_DIR}/model.safetensors")
    value = trainer.model.value_model.state_dict()
    assert any(not torch.equal(reward[k], value[k]) for k in reward)  # initialised from the reward model, then trained


def test_reference_is_the_sft_model_so_kl_starts_at_zero(trained_ppo):
    trainer, _ = trained_ppo
    updates = [e for e in trainer.state.log_history if "objective/kl" in e]
    assert len(updates) == 4  # 64 episodes / 16 per update
    assert abs(updates[0]["objective/kl"]) < 1e-3


def test_adapter_and_merged_policy_are_saved(trained_ppo):
    _, output_dir = trained_ppo
    assert (output_dir / artifacts.ADAPTER_CONFIG).exists() and artifacts.is_complete(output_dir)
    assert (output_dir / "ppo_training.png").exists()
    AutoModelForCausalLM.from_pretrained(output_dir / artifacts.MERGED_DIR)
    # how the policy sampled travels with it, and the report samples the same way unless told otherwise
    assert sampling.settings([str(output_dir / artifacts.MERGED_DIR)], None, None) == {
        "max_new_tokens": 12,
        "temperature": 0.5,
    }
    assert sampling.settings([str(output_dir / artifacts.MERGED_DIR)], 40, 1.0)["max_new_tokens"] == 40


def test_a_classifier_with_another_tokenizer_can_be_the_reward(tmp_path, tiny_dir, emotion_classifier, prompts_file):
    trainer = run_ppo(
        tmp_path / "ppo",
        tiny_dir,
        emotion_classifier,
        prompts_file,
        "--total_episodes",
        "32",
        "--reward_classifier_label",
        "joy",
        "--missing_eos_penalty",
        "0",
    )
    scores = [e["objective/scores"] for e in trainer.state.log_history if "objective/scores" in e]
    assert len(scores) == 2 and all(0.0 <= s <= 1.0 for s in scores)  # probabilities of "joy"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["--reward_classifier_label", "anger"], r"'anger' is not a label of .*its labels are \['joy', 'neutral'\]"),
        ([], r"is not a reward model"),
    ],
)
def test_classifier_settings_are_checked(tmp_path, tiny_dir, emotion_classifier, prompts_file, overrides, message):
    with pytest.raises(RecipeError, match=message):
        run_ppo(tmp_path / "ppo", tiny_dir, emotion_classifier, prompts_file, *overrides)


def test_reward_model_with_another_tokenizer_is_refused(tmp_path, tiny_dir, emotion_classifier, prompts_file):
    model = LlamaForSequenceClassification.from_pretrained(
        emotion_classifier, num_labels=1, ignore_mismatched_sizes=True
    )
    model.save_pretrained(tmp_path / "rm")
    AutoTokenizer.from_pretrained(emotion_classifier).save_pretrained(tmp_path / "rm")
    with pytest.raises(RecipeError, match="its tokenizer differs from the policy's"):
        run_ppo(tmp_path / "ppo", tiny_dir, tmp_path / "rm", prompts_file)


def test_pad_equal_to_eos_is_refused(tmp_path, tiny_dir, trained_reward, prompts_file):
    folder = shutil.copytree(tiny_dir, tmp_path / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.pad_token = tokenizer.eos_token
    tokenizer.save_pretrained(folder)
    with pytest.raises(RecipeError, match="the pad token is the eos token"):
        run_ppo(tmp_path / "ppo", folder, trained_reward[1], prompts_file)


def test_fewer_prompts_than_one_batch_is_refused_not_looped_forever(tmp_path, tiny_dir, trained_reward):
    few = tmp_path / "few.csv"
    few.write_text("Prompt\n" + "\n".join(task.split_prompts()[0][:10]) + "\n")
    with pytest.raises(RecipeError, match=r"10 prompts, fewer than one PPO batch .* = 16\)"):
        run_ppo(tmp_path / "ppo", tiny_dir, trained_reward[1], few)


def test_adapter_only_policy_folder_is_refused(tmp_path, trained_reward, prompts_file):
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / artifacts.ADAPTER_CONFIG).write_text("{}")
    with pytest.raises(RecipeError, match="holds only a LoRA adapter"):
        run_ppo(tmp_path / "ppo", tmp_path / "adapter", trained_reward[1], prompts_file)


def test_prompts_empty_or_too_long_are_counted(tmp_path, tiny_dir, caplog):
    import logging

    from rlhf_recipes.common.parsing import parse

    path = tmp_path / "prompts.jsonl"
    path.write_text('{"prompt": "Describe the pizza."}\n{"prompt": ""}\n{"prompt": "%s"}\n' % ("Describe it. " * 40))
    script_args, _, _ = parse(
        ppo.make_parser(),
        ["--config", str(QUICKSTART / "ppo.yaml"), "--dataset_name", str(path), "--max_prompt_length", "64"],
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    with caplog.at_level(logging.INFO):
        rows = stage_data.prompt_ids(script_args, "train", PromptFormat(chat=True), tokenizer)
    assert len(rows) == 1
    assert "dropped 1 of 3 rows: empty prompt" in caplog.text
    assert "dropped 1 of 2 prompts longer than max_prompt_length=64" in caplog.text


def test_prompts_cut_from_a_text_column(tmp_path, tiny_dir):
    from rlhf_recipes.common.parsing import parse

    path = tmp_path / "texts.jsonl"
    path.write_text('{"text": "I love this new phone so much"}\n')
    args = ["--config", str(QUICKSTART / "ppo.yaml"), "--dataset_name", str(path), "--prompt_words", "3"]
    script_args, _, _ = parse(ppo.make_parser(), args)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    (row,) = stage_data.prompt_ids(script_args, "train", PromptFormat(chat=True), tokenizer)
    assert tokenizer.decode(row["input_ids"]) == "<|user|>I love this<|end|><|assistant|>"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["--stop_token", "<|nope|>"], r"stop_token: '<\|nope\|>' is not a token of the policy's vocabulary"),
        (["--stop_token", "", "--stop_token_id", "99999"], r"stop_token_id: 99999 is not a token of the policy's"),
        (["--total_episodes", "8"], r"total_episodes: 8 is smaller than one PPO batch .* = 16\)"),
    ],
)
def test_bad_stop_tokens_and_too_few_episodes_are_refused(
    tmp_path, tiny_dir, trained_reward, prompts_file, overrides, message
):
    with pytest.raises(RecipeError, match=message):
        run_ppo(tmp_path / "ppo", tiny_dir, trained_reward[1], prompts_file, *overrides)


def test_sample_tables_are_printed_during_training(tmp_path, tiny_dir, trained_reward, prompts_file, capsys):
    run_ppo(tmp_path / "ppo", tiny_dir, trained_reward[1], prompts_file, "--num_sample_generations", "2")
    printed = capsys.readouterr().out
    assert printed.count("model response") == 2  # after updates 1 and 3 of 4, as TRL 1.12 prints them
