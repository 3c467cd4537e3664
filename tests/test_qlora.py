"""QLoRA: 4-bit nf4 base weights (bitsandbytes runs them on CPU too), LoRA on top, full-precision merge."""

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

from rlhf_recipes import reward, sft
from rlhf_recipes.common import artifacts
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.parsing import parse
from rlhf_recipes.quickstart import task
from tests.conftest import QUICKSTART, run_stage, write_jsonl

pytestmark = pytest.mark.slow
FOUR_BIT = ["--load_in_4bit", "true", "--use_bnb_nested_quant", "true"]


def is_4bit(model) -> bool:
    import bitsandbytes as bnb

    return any(isinstance(module, bnb.nn.Linear4bit) for module in model.modules())


@pytest.fixture(scope="module")
def qlora_sft(tmp_path_factory, tiny_dir):
    tmp = tmp_path_factory.mktemp("qlora")
    data = write_jsonl(tmp / "sft.jsonl", task.sft_rows(task.split_prompts()[0], 320, seed=13))
    trainer = run_stage(
        sft,
        QUICKSTART / "sft.yaml",
        "--model_name_or_path",
        tiny_dir,
        "--dataset_name",
        str(data),
        "--output_dir",
        str(tmp / "sft"),
        "--num_train_epochs",
        "1",
        "--logging_steps",
        "4",
        *FOUR_BIT,
    )
    return trainer, tmp


def test_sft_trains_lora_on_a_4bit_base_and_merges_to_full_precision(qlora_sft, tiny_dir):
    trainer, tmp = qlora_sft
    assert is_4bit(trainer.model)
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    assert losses[-1] < losses[0]
    merged = AutoModelForCausalLM.from_pretrained(tmp / "sft" / artifacts.MERGED_DIR).eval()
    assert not is_4bit(merged) and merged.dtype == torch.float32
    assert getattr(merged.config, "quantization_config", None) is None
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_dir), tmp / "sft").eval()
    ids = torch.randint(5, merged.config.vocab_size, (2, 10))
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, adapted(ids).logits, atol=1e-5)


def test_reward_and_ppo_run_with_a_4bit_base(qlora_sft, rankings_file, tmp_path):
    from rlhf_recipes.methods import ppo

    _, tmp = qlora_sft
    trainer = run_stage(
        reward,
        QUICKSTART / "reward.yaml",
        "--model_name_or_path",
        str(tmp / "sft"),
        "--dataset_name",
        str(rankings_file),
        "--output_dir",
        str(tmp / "reward"),
        "--num_train_epochs",
        "1",
        "--eval_steps",
        "30",
        *FOUR_BIT,
    )
    assert is_4bit(trainer.model)
    assert (
        AutoModelForSequenceClassification.from_pretrained(tmp / "reward" / artifacts.MERGED_DIR).config.num_labels == 1
    )
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": p} for p in task.split_prompts()[0]])
    trainer = run_stage(
        ppo,
        QUICKSTART / "ppo.yaml",
        "--sft_model_path",
        str(tmp / "sft"),
        "--reward_model_path",
        str(tmp / "reward"),
        "--dataset_name",
        str(prompts),
        "--output_dir",
        str(tmp_path / "ppo"),
        "--total_episodes",
        "32",
        "--per_device_train_batch_size",
        "16",
        "--local_rollout_forward_batch_size",
        "16",
        "--num_sample_generations",
        "0",
        "--report_to",
        "none",
        *FOUR_BIT,
    )
    assert is_4bit(trainer.model.policy) and is_4bit(trainer.reward_model) and is_4bit(trainer.model.value_model)
    trainable = [name for name, p in trainer.model.value_model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name or "score" in name for name in trainable)
    value_losses = [e["loss/value_avg"] for e in trainer.state.log_history if "loss/value_avg" in e]
    assert value_losses and all(torch.isfinite(torch.tensor(value_losses)))
    assert not is_4bit(AutoModelForCausalLM.from_pretrained(tmp_path / "ppo" / artifacts.MERGED_DIR))


def test_4bit_and_8bit_together_are_refused():
    with pytest.raises(RecipeError, match=r"config file .*sft.yaml: .*8 bit and 4 bit"):
        parse(
            sft.make_parser(),
            ["--config", str(QUICKSTART / "sft.yaml"), "--load_in_4bit", "true", "--load_in_8bit", "true"],
        )


def test_4bit_without_bitsandbytes_is_explained(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "bitsandbytes" else real(name, *a)
    )
    with pytest.raises(RecipeError, match="load_in_4bit needs bitsandbytes, which is not installed"):
        parse(sft.make_parser(), ["--config", str(QUICKSTART / "sft.yaml"), "--load_in_4bit", "true"])
