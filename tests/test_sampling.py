"""Scoring samples (`evaluation.sampling`): batched log-probabilities equal the one-sample-at-a-time ones."""

import random

import pytest
import torch
from trl.trainer.utils import selective_log_softmax

from rlhf_recipes.evaluation import sampling


@pytest.fixture(scope="module")
def tiny_model(tiny_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_dir).eval()


def random_samples(vocab_size: int, count: int, seed: int = 0) -> list[dict]:
    """Samples of different prompt and response lengths (an empty response among them)."""
    rng = random.Random(seed)
    return [
        {
            "prompt_ids": [rng.randrange(vocab_size) for _ in range(rng.randint(1, 24))],
            "response_ids": [rng.randrange(vocab_size) for _ in range(0 if i == 3 else rng.randint(1, 16))],
        }
        for i in range(count)
    ]


@torch.no_grad()
def one_at_a_time(model, samples: list[dict], temperature: float) -> list[float]:
    totals = []
    for s in samples:
        if not s["response_ids"]:  # no token to score
            totals.append(0.0)
            continue
        ids = torch.tensor([s["prompt_ids"] + s["response_ids"]])
        logits = model(ids).logits[0, len(s["prompt_ids"]) - 1 : -1].float() / temperature
        totals.append(selective_log_softmax(logits, ids[0, len(s["prompt_ids"]) :]).sum().item())
    return totals


@pytest.fixture(scope="module")
def scored(tiny_model) -> tuple[list[dict], list[float]]:
    samples = random_samples(tiny_model.config.vocab_size, 21)
    return samples, one_at_a_time(tiny_model, samples, temperature=0.7)


@pytest.mark.parametrize("batch_size", [1, 5, sampling.LOGPROBS_BATCH_SIZE])
def test_batched_logprobs_equal_one_sample_at_a_time(tiny_model, scored, batch_size):
    samples, expected = scored
    batched = sampling.sequence_logprobs(tiny_model, samples, temperature=0.7, batch_size=batch_size)
    assert batched[3] == 0.0 and len(batched) == len(samples)
    # the sums reach about -280, where float32 values are 3e-5 apart: a relative bar of a few of those steps
    assert torch.allclose(torch.tensor(batched), torch.tensor(expected), atol=1e-5, rtol=1e-6)
