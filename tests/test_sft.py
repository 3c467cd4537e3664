import csv

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from rlhf_recipes import sft
from rlhf_recipes.common import artifacts, models
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.parsing import parse
from rlhf_recipes.evaluation import sampling
from rlhf_recipes.quickstart import task
from tests.conftest import QUICKSTART, run_stage, write_jsonl

CONFIG = str(QUICKSTART / "sft.yaml")


def run_sft(tmp_path, *overrides):
    return run_stage(sft, QUICKSTART / "sft.yaml", "--output_dir", str(tmp_path / "sft"), *overrides)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_dir):
    """A short SFT run on 480 demonstrations of the built-in task."""
    tmp = tmp_path_factory.mktemp("sft")
    rows = task.sft_rows(task.split_prompts()[0], 480, seed=3)
    data = write_jsonl(tmp / "sft.jsonl", rows)
    trainer = run_sft(tmp, "--dataset_name", str(data), "--num_train_epochs", "1", "--logging_steps", "3")
    return trainer, tmp / "sft", tiny_dir


@pytest.mark.quality
def test_loss_falls(trained):
    losses = [entry["loss"] for entry in trained[0].state.log_history if "loss" in entry]
    assert len(losses) >= 5
    # From the base model's loss towards the floor set by the demonstrator's random word choices (about 0.9 nats):
    # the drop was 0.67-0.74 nats on every build seen, so 0.3 holds with margin (halving it did not on every build).
    assert losses[-1] < losses[0] - 0.3


def test_lora_weights_change_and_base_weights_do_not(trained):
    trainer, _, base_dir = trained
    base = load_file(f"{base_dir}/model.safetensors")
    state = {k: v.detach() for k, v in trainer.model.state_dict().items()}
    lora_b = [v for k, v in state.items() if "lora_B" in k]
    assert lora_b and all(v.abs().sum() > 0 for v in lora_b)  # lora_B starts at zero
    frozen = {
        k.replace("base_model.model.", "").replace(".base_layer", ""): v for k, v in state.items() if "lora_" not in k
    }
    assert base and set(base) <= set(frozen)
    assert all(torch.equal(base[k], frozen[k]) for k in base)


def test_merged_model_gives_the_same_outputs_as_base_plus_adapter(trained):
    _, output_dir, base_dir = trained
    merged = AutoModelForCausalLM.from_pretrained(output_dir / artifacts.MERGED_DIR).eval()
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir), output_dir).eval()
    # Ids from their own seed, not from the random state training left, which differs between TRL 1.12 and 1.16:
    # the two float paths (W + BA, Wx + B(Ax)) differ by about 1e-5, and one draw of TRL 1.16's failed allclose.
    ids = torch.randint(5, merged.config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, adapted(ids).logits, atol=1e-5)
    assert (output_dir / artifacts.MERGED_DIR / "tokenizer.json").exists()
    assert artifacts.is_complete(output_dir)


def test_the_same_seed_gives_the_same_model(trained, tmp_path):
    _, output_dir, _ = trained
    data = tmp_path / "sft.jsonl"
    write_jsonl(data, task.sft_rows(task.split_prompts()[0], 480, seed=3))
    run_sft(tmp_path, "--dataset_name", str(data), "--num_train_epochs", "1", "--logging_steps", "3")
    again = tmp_path / "sft" / artifacts.MERGED_DIR / "model.safetensors"
    assert again.read_bytes() == (output_dir / artifacts.MERGED_DIR / "model.safetensors").read_bytes()


def test_failed_run_leaves_the_earlier_result_intact(trained, tmp_path):
    _, output_dir, _ = trained
    before = (output_dir / artifacts.MERGED_DIR / "model.safetensors").read_bytes()
    with pytest.raises(RecipeError):
        sft.main(
            *parse(
                sft.make_parser(),
                [
                    "--config",
                    CONFIG,
                    "--output_dir",
                    str(output_dir),
                    "--dataset_name",
                    str(tmp_path / "missing.jsonl"),
                ],
            )
        )
    assert (output_dir / artifacts.MERGED_DIR / "model.safetensors").read_bytes() == before


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["--model_name_or_path", "./no/such/model"], r"model_name_or_path: './no/such/model' is no local folder"),
        (["--lora_task_type", "SEQ_CLS"], r"lora_task_type: the SFT stage trains a causal LM"),
    ],
)
def test_bad_model_settings_stop_before_training(tmp_path, overrides, message):
    with pytest.raises(RecipeError, match=message):
        run_sft(tmp_path, *overrides)


def test_adapter_only_folder_is_refused(tmp_path):
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / artifacts.ADAPTER_CONFIG).write_text("{}")
    with pytest.raises(RecipeError, match="holds only a LoRA adapter"):
        run_sft(tmp_path, "--model_name_or_path", str(tmp_path / "adapter"))


@pytest.fixture
def no_pad_model(tiny_dir, tmp_path) -> str:
    """The tiny model with a tokenizer that has no pad token (as GPT-2's)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    tokenizer.pad_token = None
    AutoModelForCausalLM.from_pretrained(tiny_dir).save_pretrained(tmp_path / "nopad")
    tokenizer.save_pretrained(tmp_path / "nopad")
    return str(tmp_path / "nopad")


def test_plain_text_trains_as_language_modelling(tmp_path):
    texts = [{"text": f"The {topic} was lovely and fine."} for topic in task.TOPICS]
    trainer = run_sft(
        tmp_path,
        "--dataset_name",
        str(write_jsonl(tmp_path / "text.jsonl", texts)),
        "--max_steps",
        "3",
        "--logging_steps",
        "1",
    )
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    assert len(losses) == 3 and all(loss > 0 for loss in losses)
    assert (tmp_path / "sft" / artifacts.MERGED_DIR / "config.json").exists()


def test_tokenizer_without_pad_token_is_refused(no_pad_model, tmp_path):
    with pytest.raises(RecipeError, match="has no pad token. Set `pad_token`"):
        run_sft(tmp_path, "--model_name_or_path", no_pad_model)


def test_a_new_pad_token_grows_the_embeddings_and_later_stages_inherit_it(no_pad_model, tmp_path):
    rows = write_jsonl(tmp_path / "sft.jsonl", task.sft_rows(task.split_prompts()[0], 64, seed=1))
    base_size = AutoModelForCausalLM.from_pretrained(no_pad_model).get_input_embeddings().num_embeddings
    run_sft(
        tmp_path,
        "--model_name_or_path",
        no_pad_model,
        "--pad_token",
        "<|newpad|>",
        "--dataset_name",
        str(rows),
        "--max_steps",
        "2",
    )
    merged = tmp_path / "sft" / artifacts.MERGED_DIR
    tokenizer = models.load_tokenizer(str(merged))  # no pad_token given: the saved tokenizer has it
    assert tokenizer.pad_token == "<|newpad|>" and tokenizer.pad_token_id == base_size
    model = AutoModelForCausalLM.from_pretrained(merged)
    assert model.get_input_embeddings().num_embeddings == base_size + 1 == len(tokenizer)
    assert model.config.vocab_size == base_size + 1
    with pytest.raises(RecipeError, match="Only the SFT stage adds a new pad token"):
        models.load_tokenizer(no_pad_model, pad_token="<|otherpad|>")
    assert models.load_tokenizer(no_pad_model, pad_token="<|unk|>").pad_token == "<|unk|>"  # in the vocabulary


@pytest.mark.slow
@pytest.mark.quality
def test_quickstart_sft_recipe_learns_the_format(tmp_path, tiny_dir):
    """The shipped recipe, as it is: held-out responses are well-formed at least 90% of the time."""
    run_sft(tmp_path, "--dataset_name", str(QUICKSTART / "data" / "sft.jsonl"))
    with open(QUICKSTART / "data" / "prompts_eval.csv") as f:
        prompts = [row["Prompt"] for row in csv.DictReader(f)] * sampling.SAMPLES_PER_PROMPT
    summary = {}
    for name, folder in (("base", tiny_dir), ("sft", tmp_path / "sft" / artifacts.MERGED_DIR)):
        model, tokenizer, prompt_format = sampling.load_policy(str(folder))
        summary[name] = task.gold_summary(prompts, sampling.generate(model, tokenizer, prompt_format, prompts))
    assert summary["sft"]["well_formed_rate"] >= 0.9, summary
    assert summary["base"]["well_formed_rate"] < 0.5, summary
