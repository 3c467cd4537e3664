"""Benchmarks: throughput and peak memory of each stage, and the recipes' overhead over plain TRL.

    python -m bench.run [--model tiny|small] [--stages sft reward ppo] [--repeats 3]

Each run is a fresh process (`bench.worker`); the recipe and the plain-TRL script alternate, and the
overhead is the ratio of their median training-loop times (the trainer is the same, so it should be
1.00) and of their median end-to-end times (the recipe also checks data and writes a merged model).
Writes bench/results.json and bench/RESULTS.md.
"""

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from rlhf_recipes import task, tiny_model

BENCH = Path(__file__).resolve().parent
SMALL_SHAPE = dict(hidden_size=448, intermediate_size=1792, num_hidden_layers=6, num_attention_heads=8,
                   num_key_value_heads=8)  # fmt: skip


def write_jsonl(path: Path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def prepare(model: str, folder: Path) -> str:
    """The model folder and the data files (recipe and plain formats) in `folder`."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    model_dir = tiny_model.resolve(tiny_model.BUILTIN_TINY)
    if model == "small":  # same family and tokenizer, ~20M parameters, random weights (speed only)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        config = LlamaConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                             eos_token_id=tokenizer.eos_token_id, bos_token_id=None, max_position_embeddings=256,
                             tie_word_embeddings=True, **SMALL_SHAPE)  # fmt: skip
        torch.manual_seed(0)
        LlamaForCausalLM(config).save_pretrained(folder / "model")
        tokenizer.save_pretrained(folder / "model")
        model_dir = str(folder / "model")
    train, _ = task.split_prompts()
    sft = task.sft_rows(train, 1024, seed=1)
    write_jsonl(folder / "sft.jsonl", sft)
    user = lambda text: [{"role": "user", "content": text}]  # noqa: E731
    assistant = lambda text: [{"role": "assistant", "content": text}]  # noqa: E731
    write_jsonl(folder / "sft_chat.jsonl", [{"prompt": user(r["prompt"]), "completion": assistant(r["response"])} for r in sft])
    pairs = [{"prompt": r["prompt"], "chosen": r["responses"][0], "rejected": r["responses"][-1]}
             for r in task.ranking_rows(train, 1024, 2, seed=2)]  # fmt: skip
    write_jsonl(folder / "pairs.jsonl", pairs)
    write_jsonl(folder / "pairs_chat.jsonl", [{"prompt": user(p["prompt"]), "chosen": assistant(p["chosen"]),
                                               "rejected": assistant(p["rejected"])} for p in pairs])  # fmt: skip
    write_jsonl(folder / "prompts.jsonl", [{"prompt": p} for p in train])
    return model_dir


def worker(stage: str, variant: str, model_dir: str, folder: Path, out: Path) -> dict:
    command = [sys.executable, "-m", "bench.worker", stage, variant, model_dir, str(folder), str(out)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=BENCH.parent)
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{stage}/{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("BENCH "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["tiny", "small"], default="tiny")
    parser.add_argument("--stages", nargs="+", default=["sft", "reward", "ppo"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import torch
    import transformers
    import trl

    hardware = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, " + (
        torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU")
    versions = f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model_dir = prepare(args.model, folder)
        if "ppo" in args.stages:  # PPO needs a reward model with the policy's tokenizer
            worker("reward", "recipe", model_dir, folder, folder / "reward_run")
            (folder / "reward_model").symlink_to(folder / "reward_run" / "merged")
        for stage in args.stages:
            runs = {"recipe": [], "plain": []}
            for i in range(args.repeats):
                for variant in ("recipe", "plain") if i % 2 == 0 else ("plain", "recipe"):
                    runs[variant].append(worker(stage, variant, model_dir, folder, folder / f"{stage}-{variant}-{i}"))
                    print(stage, variant, runs[variant][-1], flush=True)
            median = {v: {k: statistics.median(r[k] for r in rs) for k in rs[0] if isinstance(rs[0][k], float)}
                      for v, rs in runs.items()}  # fmt: skip
            rows.append({"stage": stage, "model": args.model, **{f"recipe_{k}": v for k, v in median["recipe"].items()},
                         "plain_train_s": median["plain"]["train_s"], "plain_total_s": median["plain"]["total_s"],
                         "overhead_train": median["recipe"]["train_s"] / median["plain"]["train_s"],
                         "overhead_total": median["recipe"]["total_s"] / median["plain"]["total_s"]})  # fmt: skip
            write(args.model, {"hardware": hardware, "versions": versions, "repeats": args.repeats, "rows": rows})


def write(model: str, results: dict) -> None:
    """results_<model>.json (after every stage, so a long run keeps what it measured) and RESULTS.md."""
    (BENCH / f"results_{model}.json").write_text(json.dumps(results, indent=2) + "\n")
    (BENCH / "RESULTS.md").write_text(markdown([json.loads(p.read_text()) for p in sorted(BENCH.glob("results_*.json"))]))
    print(json.dumps(results, indent=2), flush=True)


def markdown(all_results: list[dict]) -> str:
    """RESULTS.md: one table row per stage and model, with the hardware and versions it ran on."""
    lines = ["# Benchmarks", "", "Written by `python -m bench.run`; medians of alternating runs, each in a fresh process.",
             "Throughput counts non-padding tokens (SFT, reward) or episodes (PPO) per second of the training loop;",
             "overhead = recipe / plain TRL (training loop, and end to end: loading, checks, training, saving, merging).", ""]  # fmt: skip
    for results in all_results:
        lines += [f"Hardware: {results['hardware']}; {results['versions']}; {results['repeats']} runs each.", "",
                  "| stage | model | tokens/s | episodes/s | train s | peak RSS MB | overhead (loop) | overhead (end to end) |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for r in results["rows"]:
            tokens, episodes = r.get("recipe_tokens_per_s"), r.get("recipe_episodes_per_s")
            lines.append(
                f"| {r['stage']} | {r['model']} | {f'{tokens:.0f}' if tokens else '–'} | "
                f"{f'{episodes:.1f}' if episodes else '–'} | {r['recipe_train_s']:.1f} | {r['recipe_peak_rss_mb']:.0f} | "
                f"{r['overhead_train']:.3f} | {r['overhead_total']:.3f} |"
            )
        lines.append("")
        for r in results["rows"]:
            if "recipe_generation_s" in r:
                parts = {k: r[f"recipe_{k}_s"] for k in ("generation", "scoring", "optimization")}
                total = sum(parts.values())
                lines.append(f"PPO update time ({r['model']}): " + ", ".join(
                    f"{k} {v:.1f} s ({v / total:.0%})" for k, v in parts.items()) + ".")  # fmt: skip
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
