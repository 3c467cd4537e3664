"""Our PPO stage against TRL 1.12's PPOTrainer, timed in alternating fresh processes, with where an update's time goes.

    python -m bench.ppo_speed --sft outputs/quickstart/sft --reward outputs/quickstart/reward [--rounds 3]

Needs TRL 1.12 (the reference; .venv-trl1.12). Each round runs the quickstart's PPO stage (recipes/quickstart/ppo.yaml,
the same SFT and reward models, seed and CPU threads) once with our trainer and once with TRL's, in fresh processes,
in alternating order. Per run: the stage's seconds (loading and merging included), the seconds in `train()`, and
how they split: generation (sampling the responses), the rest of the rollout (log-probabilities under the policy
and the reference, values, rewards, GAE) and learning (the PPO epochs, optimizer steps, logging, checkpoints).
Writes bench/PPO_SPEED.json.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


def timed(spent: dict, key: str, fn):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[key] = spent.get(key, 0.0) + time.perf_counter() - start

    return wrapper


@contextmanager
def clocks(which: str, spent: dict):
    """Count the seconds of generation, of the whole rollout, and of `train()` in the trainer `which`."""
    from rlhf_recipes.methods import ppo_trainer

    if which == "ours":
        patches = [
            mock.patch.object(ppo_trainer, "generate", timed(spent, "generation", ppo_trainer.generate)),
            mock.patch.object(
                ppo_trainer.PPOTrainer,
                "make_experience",
                timed(spent, "rollout", ppo_trainer.PPOTrainer.make_experience),
            ),
            mock.patch.object(ppo_trainer.PPOTrainer, "train", timed(spent, "train", ppo_trainer.PPOTrainer.train)),
        ]
    else:
        from trl.experimental.ppo import ppo_trainer as reference

        from bench import trl_ppo

        trainer = trl_ppo.trainer_class()
        patches = [
            mock.patch.object(reference, "batch_generation", timed(spent, "generation", reference.batch_generation)),
            mock.patch.object(trainer, "train", timed(spent, "train", trainer.train)),
            mock.patch("rlhf_recipes.methods.ppo.PPOTrainer", trainer),
        ]
    for patch in patches:
        patch.start()
    try:
        yield
    finally:
        for patch in patches:
            patch.stop()


def run_one(which: str, sft: str, reward: str) -> dict:
    from rlhf_recipes.common.parsing import parse
    from rlhf_recipes.methods import ppo

    output = tempfile.mkdtemp(prefix=f"ppo-speed-{which}-")
    argv = [
        "--config",
        str(REPO / "recipes" / "quickstart" / "ppo.yaml"),
        "--sft_model_path",
        sft,
        "--reward_model_path",
        reward,
        "--output_dir",
        output,
        "--report_to",
        "none",
        "--disable_tqdm",
        "true",
    ]
    spent = {}
    start = time.perf_counter()
    with clocks(which, spent):
        ppo.main(*parse(ppo.make_parser(), argv))
    spent["stage"] = time.perf_counter() - start
    return {key: round(value, 2) for key, value in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sft", required=True)
    parser.add_argument("--reward", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=BENCH / "PPO_SPEED.json")
    parser.add_argument("--one", choices=["ours", "trl"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.sft, args.reward)))
        return
    runs = []
    for round_ in range(args.rounds):
        for which in ("ours", "trl") if round_ % 2 == 0 else ("trl", "ours"):
            done = subprocess.run(
                [sys.executable, "-m", "bench.ppo_speed", "--one", which, "--sft", args.sft, "--reward", args.reward],
                cwd=REPO,
                capture_output=True,
                text=True,
            )
            if done.returncode:
                raise SystemExit(done.stdout[-2000:] + done.stderr[-3000:])
            run = {"trainer": which, "round": round_, **json.loads(done.stdout.strip().splitlines()[-1])}
            print(run, flush=True)
            runs.append(run)
    median = {
        which: {
            key: statistics.median(r[key] for r in runs if r["trainer"] == which)
            for key in ("stage", "train", "generation") + (("rollout",) if which == "ours" else ())
        }
        for which in ("ours", "trl")
    }
    ours, trl = median["ours"], median["trl"]
    split = {
        "generation": ours["generation"],
        "rest of the rollout": ours["rollout"] - ours["generation"],
        "learning": ours["train"] - ours["rollout"],
    }
    result = {
        "runs": runs,
        "median": median,
        "stage_ratio": round(ours["stage"] / trl["stage"], 3),
        "train_ratio": round(ours["train"] / trl["train"], 3),
        "ours_split_of_train": {k: round(v / ours["train"], 3) for k, v in split.items()},
    }
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=1))


if __name__ == "__main__":
    main()
