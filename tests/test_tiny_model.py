import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from rlhf_recipes.quickstart import tiny_model


def test_tokenizer_has_distinct_pad_and_a_chat_template_for_assistant_only_loss(tiny_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    assert tokenizer.pad_token_id is not None and tokenizer.pad_token_id != tokenizer.eos_token_id
    chat = [{"role": "user", "content": "Describe the pizza."}, {"role": "assistant", "content": "The pizza was great."}]
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


def test_an_existing_build_is_reused_not_rebuilt(tiny_dir, monkeypatch):
    monkeypatch.setattr(tiny_model, "build_model", lambda tokenizer: pytest.fail("rebuilt a cached model"))
    assert tiny_model.resolve(tiny_model.BUILTIN_TINY) == tiny_dir
