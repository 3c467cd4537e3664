"""PPO-ptx: γ × the language-model loss of plain text in every update (PPO, RLOO, GRPO), and the report's tax."""

import filecmp

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from rlhf_recipes.common import artifacts, ptx
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.parsing import parse
from rlhf_recipes.common.prompts import PromptFormat
from rlhf_recipes.methods import rloo
from rlhf_recipes.quickstart import plain_text
from tests.conftest import QUICKSTART, write_jsonl

PLAIN_TRAIN, PLAIN_EVAL = (QUICKSTART / "data" / name for name in plain_text.FILES)
PTX = ["--ptx_dataset", str(PLAIN_TRAIN)]


def test_shipped_plain_text_is_what_the_generator_writes(tmp_path):
    plain_text.write_plain_text(tmp_path)
    names = sorted(plain_text.FILES)
    match, mismatch, errors = filecmp.cmpfiles(tmp_path, QUICKSTART / "data", names, shallow=False)
    assert match == names, f"regenerate with plain_text.write_plain_text: {mismatch + errors}"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["--ptx_coef", "0.5"], "needs the text to mix in: set ptx_dataset"),
        (["--ptx_coef", "-1", *PTX], "ptx_coef: expected 0 (off) or a positive weight"),
        (["--ptx_coef", "0.5", *PTX, "--ptx_batch_size", "0"], "ptx_batch_size: expected a positive number"),
    ],
)
def test_ptx_settings_are_checked_when_parsed(overrides, message):
    with pytest.raises(RecipeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(rloo.make_parser(), ["--config", str(QUICKSTART / "rloo.yaml"), *overrides])


def test_texts_are_read_from_text_rows_and_from_prompt_response_rows(tmp_path, tiny_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    plain = write_jsonl(tmp_path / "plain.jsonl", [{"text": "The pizza was great."}, {"text": "great " * 100}])
    ids = ptx.load_texts(str(plain), "train", PromptFormat(chat=True), tokenizer, max_length=16)
    assert ids[0] == tokenizer("The pizza was great." + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    assert len(ids[1]) == 16  # cut to max_length
    pairs = write_jsonl(tmp_path / "sft.jsonl", [{"prompt": "Review the pizza.", "response": "It was great."}])
    (chat,) = ptx.load_texts(str(pairs), "train", PromptFormat(chat=True), tokenizer, max_length=64)
    assert tokenizer.decode(chat).startswith("<|user|>Review the pizza.<|end|><|assistant|>It was great.")


def test_batches_are_the_same_on_every_run_and_each_process_takes_its_own():
    examples = [[i, i + 1] for i in range(40)]
    first = ptx.PtxBatches(examples, 4, 0, seed=3)
    one = [first.next("cpu")["input_ids"] for _ in range(2)]
    assert not torch.equal(one[0], one[1])
    again = ptx.PtxBatches(examples, 4, 0, seed=3)
    assert all(torch.equal(again.next("cpu")["input_ids"], batch) for batch in one)
    ranks = [ptx.PtxBatches(examples, 4, 0, seed=3, rank=r, world_size=2) for r in (0, 1)]
    firsts = [set(r.next("cpu")["input_ids"][:, 0].tolist()) for r in ranks]
    assert len(firsts[0]) == len(firsts[1]) == 4 and not firsts[0] & firsts[1]
    resumed = ptx.PtxBatches(examples, 4, 0, seed=3)
    resumed.taken = 1
    assert torch.equal(resumed.next("cpu")["input_ids"], one[1])
    with pytest.raises(RecipeError, match="fewer than one batch"):
        ptx.PtxBatches(examples[:3], 4, 0, seed=3)


def test_padding_is_not_predicted(tiny_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    short = tokenizer("The pizza was great.")["input_ids"]
    alone = ptx.mean_lm_loss(model, [short], tokenizer.pad_token_id)
    padded = ptx.mean_lm_loss(model, [short, short + short], tokenizer.pad_token_id, batch_size=2)
    both = (
        alone * (len(short) - 1)
        + ptx.mean_lm_loss(model, [short + short], tokenizer.pad_token_id) * (2 * len(short) - 1)
    ) / (3 * len(short) - 2)
    assert padded == pytest.approx(both, rel=1e-5)


def _plain_loss(output_dir) -> float:
    folder = output_dir / artifacts.MERGED_DIR
    tokenizer = AutoTokenizer.from_pretrained(folder)
    texts = ptx.load_texts(str(PLAIN_EVAL), "train", PromptFormat(chat=True), tokenizer, 256)
    return ptx.mean_lm_loss(AutoModelForCausalLM.from_pretrained(folder), texts, tokenizer.pad_token_id)


def _weights(output_dir) -> dict:
    return load_file(output_dir / artifacts.MERGED_DIR / "model.safetensors")


@pytest.mark.slow
def test_ppo_with_gamma_zero_is_plain_ppo_and_gamma_above_zero_keeps_the_text(
    tmp_path, tiny_dir, trained_reward, prompts_file
):
    from tests.test_ppo import run_ppo

    _, reward_dir = trained_reward
    runs = {name: tmp_path / name for name in ("plain", "zero", "ptx")}
    run_ppo(runs["plain"], tiny_dir, reward_dir, prompts_file, "--learning_rate", "5e-3")
    run_ppo(runs["zero"], tiny_dir, reward_dir, prompts_file, "--learning_rate", "5e-3", *PTX, "--ptx_coef", "0")
    trainer = run_ppo(
        runs["ptx"], tiny_dir, reward_dir, prompts_file, "--learning_rate", "5e-3", *PTX, "--ptx_coef", "1.0"
    )

    plain, zero = _weights(runs["plain"]), _weights(runs["zero"])
    assert all(torch.equal(plain[k], zero[k]) for k in plain)  # γ = 0: today's PPO, to the bit
    updates = [e for e in trainer.state.log_history if "objective/kl" in e]
    assert updates and all(ptx.LOSS_KEY in e for e in updates)
    assert _plain_loss(runs["ptx"]) < _plain_loss(runs["plain"])


@pytest.mark.slow
def test_rloo_and_grpo_take_the_ptx_term_through_compute_loss(tmp_path, tiny_dir, trained_reward, prompts_file):
    from tests.test_group_stages import run_group

    _, reward_dir = trained_reward
    plain = tmp_path / "rloo-plain"
    run_group("rloo", plain, tiny_dir, reward_dir, prompts_file, "--learning_rate", "5e-3")
    for stage in ("rloo", "grpo"):
        trainer = run_group(
            stage,
            tmp_path / stage,
            tiny_dir,
            reward_dir,
            prompts_file,
            "--learning_rate",
            "5e-3",
            *PTX,
            "--ptx_coef",
            "1.0",
        )
        logged = [e[ptx.LOSS_KEY] for e in trainer.state.log_history if ptx.LOSS_KEY in e]
        assert len(logged) == 4, stage  # each logged step (logging_steps 1)
    assert _plain_loss(tmp_path / "rloo") < _plain_loss(plain)
