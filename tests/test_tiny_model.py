import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.quickstart import tiny_model


def test_tokenizer_has_distinct_pad_and_a_chat_template_for_assistant_only_loss(tiny_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    assert tokenizer.pad_token_id is not None and tokenizer.pad_token_id != tokenizer.eos_token_id
    chat = [
        {"role": "user", "content": "Describe the pizza."},
        {"role": "assistant", "content": "The pizza was great."},
    ]
    encoded = tokenizer.apply_chat_template(chat, return_dict=True, return_assistant_tokens_mask=True)
    masked = [t for t, m in zip(encoded["input_ids"], encoded["assistant_masks"]) if m]
    assert tokenizer.decode(masked) == "The pizza was great.<|end|>"


def test_builtin_name_resolves_to_a_folder_that_loads_like_a_hub_model(tiny_dir):
    assert tiny_model.resolve(tiny_model.BUILTIN_TINY) == tiny_dir
    assert tiny_model.resolve("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    assert model.config.pad_token_id != model.config.eos_token_id
    with torch.no_grad():
        assert model(torch.tensor([[5, 6, 7]])).logits.shape[-1] == model.config.vocab_size


def test_rebuilding_gives_identical_tokenizer_and_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(tiny_model, "PRETRAIN_STEPS", 5)  # the procedure, not its length, is under test
    first, second = tiny_model.build(tmp_path / "a"), tiny_model.build(tmp_path / "b")
    assert json.loads((first / "tokenizer.json").read_text()) == json.loads((second / "tokenizer.json").read_text())
    a, b = load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    assert a and a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_builtin_tiny_is_the_shipped_build_made_from_this_source(tiny_dir):
    """Every machine starts from the same weights; a change to the task or the builder must regenerate them."""
    assert tiny_dir == str(tiny_model.SHIPPED)
    info = tiny_model.build_info(tiny_model.SHIPPED)
    assert info["fingerprint"] == tiny_model.fingerprint(), (
        "quickstart/task.py or tiny_model.py changed since the shipped tiny model was built: run `make tiny-model`"
    )
    assert info["cpu_capability"] == tiny_model.SHIPPED_CAPABILITY
    assert info["pretrain_steps"] == tiny_model.PRETRAIN_STEPS
    assert sum(f.stat().st_size for f in tiny_model.SHIPPED.iterdir()) < 1_000_000


def test_the_shipped_build_tells_the_moods_apart(tiny_dir):
    model, tokenizer = AutoModelForCausalLM.from_pretrained(tiny_dir), AutoTokenizer.from_pretrained(tiny_dir)
    coherence = tiny_model.mood_coherence(model, tokenizer)
    assert coherence >= 0.6  # 0.0 for a build that cannot tell "great" from "awful"
    assert coherence == pytest.approx(tiny_model.build_info(tiny_dir)["mood_coherence"], abs=0.01)


def test_the_shipped_build_does_not_repeat_the_word_before(tiny_dir):
    model, tokenizer = AutoModelForCausalLM.from_pretrained(tiny_dir), AutoTokenizer.from_pretrained(tiny_dir)
    chance = tiny_model.repeat_chance(model, tokenizer)
    assert chance <= 0.08  # 1/8 for a build that cannot see which word came before (bench/QUALITY.md, experiment 26)
    assert chance == pytest.approx(tiny_model.build_info(tiny_dir)["repeat_chance"], abs=0.005)


@pytest.mark.slow
@pytest.mark.quality
def test_a_full_build_on_this_processor_learns_the_moods_and_not_to_repeat(tmp_path):
    """The builder itself, at full length under this process's CPU kernels, as `make tiny-model` runs it."""
    folder = tiny_model.build(tmp_path / "tiny")
    assert tiny_model.build_info(folder)["mood_coherence"] >= 0.6
    assert tiny_model.build_info(folder)["repeat_chance"] <= 0.09  # default kernels 0.057, avx2 0.024; 0.124 before


def test_changed_source_builds_its_own_model_in_the_cache_once(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("RLHF_RECIPES_CACHE", str(tmp_path))
    monkeypatch.setattr(tiny_model, "fingerprint", lambda: "edited")
    monkeypatch.setattr(tiny_model, "PRETRAIN_STEPS", 5)
    folder = tiny_model.resolve(tiny_model.BUILTIN_TINY)
    assert folder == str(tmp_path / "tiny-edited") and tiny_model.build_info(folder)["fingerprint"] == "edited"
    assert "make tiny-model" in caplog.text
    monkeypatch.setattr(tiny_model, "build_model", lambda *args: pytest.fail("rebuilt a cached model"))
    assert tiny_model.resolve(tiny_model.BUILTIN_TINY) == folder


def test_shipping_refuses_other_cpu_kernels_than_the_shipped_builds(monkeypatch):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    monkeypatch.setattr(tiny_model, "SHIPPED_CAPABILITY", "default")
    with pytest.raises(RecipeError, match="ATEN_CPU_CAPABILITY=default rlhf-recipes build-default --ship"):
        tiny_model.ship()
