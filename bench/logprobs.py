"""Scoring samples (the report's KL): one forward pass per sample against `sampling.sequence_logprobs`' batches.

    python -m bench.logprobs [--samples 256] [--batch-size 16] [--rounds 3] [--model DIR]

Scores the same samples both ways with the model (default: the built-in tiny model) on its device (GPU when
there is one): random token ids, prompts of 8-64 tokens, responses of 1-32 (the report's `max_new_tokens`).
Each round times both ways, in alternating order. Prints, per way: the median seconds and samples per second
over the rounds, and the largest difference between the two ways' sums.
"""

import argparse
import random
import statistics
import time

import torch


@torch.no_grad()
def one_at_a_time(model, samples: list[dict], temperature: float) -> list[float]:
    """One forward pass per sample, each sample unpadded: the scoring the batches replace."""
    from trl.trainer.utils import selective_log_softmax

    totals = []
    for s in samples:
        ids = torch.tensor([s["prompt_ids"] + s["response_ids"]], device=model.device)
        logits = model(ids).logits[0, len(s["prompt_ids"]) - 1 : -1].float() / temperature
        totals.append(selective_log_softmax(logits, ids[0, len(s["prompt_ids"]) :]).sum().item())
    return totals


def random_samples(vocab_size: int, count: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [
        {
            "prompt_ids": [rng.randrange(vocab_size) for _ in range(rng.randint(8, 64))],
            "response_ids": [rng.randrange(vocab_size) for _ in range(rng.randint(1, 32))],
        }
        for _ in range(count)
    ]


def timed(fn) -> tuple[float, list[float]]:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    totals = fn()
    return time.perf_counter() - start, totals


def main() -> None:
    from accelerate import PartialState
    from transformers import AutoModelForCausalLM

    from rlhf_recipes.evaluation import sampling
    from rlhf_recipes.quickstart import tiny_model

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=sampling.LOGPROBS_BATCH_SIZE)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default=None, help="A causal LM folder (default: the built-in tiny model).")
    args = parser.parse_args()

    folder = args.model or tiny_model.resolve(tiny_model.BUILTIN_TINY)
    model = AutoModelForCausalLM.from_pretrained(folder).to(PartialState().device).eval()
    samples = random_samples(model.config.vocab_size, args.samples)
    ways = {
        "one at a time": lambda: one_at_a_time(model, samples, sampling.TEMPERATURE),
        f"batched ({args.batch_size})": lambda: sampling.sequence_logprobs(
            model, samples, sampling.TEMPERATURE, args.batch_size
        ),
    }
    timed(lambda: sampling.sequence_logprobs(model, samples[:8], sampling.TEMPERATURE))  # warm-up
    seconds, totals = {name: [] for name in ways}, {}
    for round_ in range(args.rounds):
        for name in ways if round_ % 2 == 0 else reversed(ways):
            spent, totals[name] = timed(ways[name])
            seconds[name].append(spent)
    old, new = (torch.tensor(t) for t in totals.values())
    print(f"{args.samples} samples, {folder}, {model.device}, {torch.get_num_threads()} CPU threads")
    for name, spent in seconds.items():
        median = statistics.median(spent)
        rounds = ", ".join(f"{s:.2f}" for s in spent)
        print(f"{name:>16}: {median:7.2f} s  {args.samples / median:8.1f} samples/s  (rounds: {rounds} s)")
    print(f"largest difference between the sums: {(old - new).abs().max().item():.2e}")


if __name__ == "__main__":
    main()
