"""Benchmarks: throughput, peak memory and model FLOPs utilisation of each stage, and the recipes'
overhead over plain TRL.

    python -m bench.run [--model tiny|small|qwen2.5-0.5b|qwen2.5-1.5b] [--stages sft reward ppo] [--repeats 3]
    python -m bench.run --model tiny --stages sft --try="--activation_checkpointing true"

Each run is a fresh process (`bench.worker`). By default the recipe and a plain-TRL script alternate,
and the overhead is the ratio of their median training-loop times (the trainer is the same, so it
should be 1.00) and of their median end-to-end times (the recipe also checks data and writes a
merged model). With `--try ARGS` the recipe runs with and without ARGS instead, and the speed-up is
recorded as an experiment. Writes bench/results_<model>.json, bench/experiments.json, bench/RESULTS.md.
"""

import argparse
import json
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.settings import GPU_PEAK_BF16, MODELS
from rlhf_recipes.evaluation import tables
from rlhf_recipes.quickstart import task, tiny_model

BENCH = Path(__file__).resolve().parent
EXPERIMENTS = "experiments.json"
RESULT_COLUMNS = (
    "stage",
    "model (L x d, N)",
    "seq mean / max",
    "batch",
    "tokens/s",
    "episodes/s",
    "model TFLOP/s",
    "MFU",
    "train s",
    "peak RSS MB",
    "overhead (loop)",
    "overhead (end to end)",
)
EXPERIMENT_COLUMNS = (
    "stage",
    "model",
    "tried",
    "before",
    "after",
    "speed-up",
    "peak RSS after/before",
    "hardware",
    "verdict",
)


def write_jsonl(path: Path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def build_model(name: str, folder: Path) -> str:
    """The model folder: the built-in tiny model, or a randomly initialised one of a preset shape."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    model_dir = tiny_model.resolve(tiny_model.BUILTIN_TINY)
    shape = MODELS[name]["config"]
    if shape is None:
        return model_dir
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    shape = {"vocab_size": len(tokenizer), **shape}
    config = AutoConfig.for_model(
        **shape,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        max_position_embeddings=4096,
    )
    torch.manual_seed(0)
    dtype = getattr(torch, MODELS[name].get("dtype", "float32"))  # bf16 for shapes too big to save in fp32 quickly
    AutoModelForCausalLM.from_config(config, dtype=dtype).save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "model")
    return str(folder / "model")


def long_response(rng, words: int) -> str:
    """A well-formed-looking response of about `words` task words (for sequence-length benchmarks)."""
    vocabulary = [word for words in task.ADJECTIVES.values() for word in words]
    return " ".join(rng.choice(vocabulary) for _ in range(words)) + "."


def prepare(name: str, folder: Path) -> str:
    """The model folder and the data files (recipe and plain formats) in `folder`."""
    import random

    model_dir = build_model(name, folder)
    preset = MODELS[name]
    train, _ = task.split_prompts()
    sft = task.sft_rows(train, preset["rows"], seed=1)
    pairs = [
        {"prompt": r["prompt"], "chosen": r["responses"][0], "rejected": r["responses"][-1]}
        for r in task.ranking_rows(train, preset["rows"], 2, seed=2)
    ]
    if preset["response_words"]:
        rng = random.Random(0)
        sft = [{**r, "response": long_response(rng, preset["response_words"])} for r in sft]
        pairs = [
            {
                **p,
                "chosen": long_response(rng, preset["response_words"]),
                "rejected": long_response(rng, preset["response_words"]),
            }
            for p in pairs
        ]
    write_jsonl(folder / "sft.jsonl", sft)
    user = lambda text: [{"role": "user", "content": text}]  # noqa: E731
    assistant = lambda text: [{"role": "assistant", "content": text}]  # noqa: E731
    write_jsonl(
        folder / "sft_chat.jsonl", [{"prompt": user(r["prompt"]), "completion": assistant(r["response"])} for r in sft]
    )
    write_jsonl(folder / "pairs.jsonl", pairs)
    write_jsonl(
        folder / "pairs_chat.jsonl",
        [
            {"prompt": user(p["prompt"]), "chosen": assistant(p["chosen"]), "rejected": assistant(p["rejected"])}
            for p in pairs
        ],
    )
    write_jsonl(folder / "prompts.jsonl", [{"prompt": p} for p in train])
    return model_dir


def worker(stage: str, variant: str, model_dir: str, folder: Path, out: Path, extra: list[str]) -> dict:
    command = [
        sys.executable,
        "-m",
        "bench.worker",
        stage,
        variant,
        model_dir,
        str(folder),
        str(out),
        json.dumps(extra),
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=BENCH.parent)
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{stage}/{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("BENCH ") :])


def flops_per_token(run: dict, lora: bool) -> float:
    """Model FLOPs per trained token: (4 if LoRA else 6) x N + 12 x layers x hidden x mean sequence length.

    N = weights of every linear layer (LM head included, embeddings excluded). LoRA skips the weight
    gradients of the frozen base (2N of the 6N); attention (12 L d s, PaLM's count) is the same either way.
    """
    return (4 if lora else 6) * run["matmul_params"] + 12 * run["layers"] * run["hidden"] * run["seq_mean"]


def gpu_peak() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((peak for key, peak in GPU_PEAK_BF16.items() if key in name), None)


def medians(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0] if isinstance(runs[0][k], (int, float))}


def summary(stage: str, model: str, run: dict) -> dict:
    """A row's shape, throughput, FLOP/s and MFU from the median figures of one variant."""
    row = {"stage": stage, "model": model, **run}
    if "tokens_per_s" in run:  # SFT and reward; PPO's FLOPs mix generation, scoring and training
        row["model_tflops"] = run["tokens_per_s"] * flops_per_token(run, lora=True) / 1e12
        peak = gpu_peak()
        row["mfu"] = row["model_tflops"] * 1e12 / peak if peak else None
    return row


def environment() -> dict:
    import peft
    import torch
    import transformers
    import trl

    hardware = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, " + (
        torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    )
    versions = (
        f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}, "
        f"peft {peft.__version__}"
    )
    return {"hardware": hardware, "versions": versions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=list(MODELS), default="tiny")
    parser.add_argument("--stages", nargs="+", default=["sft", "reward", "ppo"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--try", dest="candidate", help="overrides to compare against the recipe's defaults")
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=BENCH,
        help="where results_<model>.json, experiments.json and RESULTS.md go (default: bench/)",
    )
    args = parser.parse_args()
    candidate = shlex.split(args.candidate) if args.candidate else None
    args.results_dir.mkdir(parents=True, exist_ok=True)
    variants = ("recipe", "candidate") if candidate else ("recipe", "plain")
    env = environment()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model_dir = prepare(args.model, folder)
        if "ppo" in args.stages:  # PPO needs a reward model with the policy's tokenizer
            extra = MODELS[args.model]["args"].get("reward", [])
            worker("reward", "recipe", model_dir, folder, folder / "reward_run", [*extra, "--max_steps", "2"])
            (folder / "reward_model").symlink_to(folder / "reward_run" / "merged")
        for stage in args.stages:
            base = MODELS[args.model]["args"].get(stage, [])
            extra = {"recipe": base, "plain": base, "candidate": [*base, *(candidate or [])]}
            runs = {v: [] for v in variants}
            for i in range(args.repeats):
                for variant in variants if i % 2 == 0 else variants[::-1]:
                    kind = "recipe" if variant == "candidate" else variant
                    out = folder / f"{stage}-{variant}-{i}"
                    runs[variant].append(worker(stage, kind, model_dir, folder, out, extra[variant]))
                    print(stage, variant, runs[variant][-1], flush=True)
            median = {v: medians(rs) for v, rs in runs.items()}
            if candidate:
                record_experiment(env, args, stage, median, args.results_dir)
                continue
            every = [r["train_s"] for rs in runs.values() for r in rs]
            rows.append(
                {
                    **summary(stage, args.model, median["recipe"]),
                    "train_s_range": [min(every), max(every)],
                    "plain_train_s": median["plain"]["train_s"],
                    "plain_total_s": median["plain"]["total_s"],
                    "overhead_train": median["recipe"]["train_s"] / median["plain"]["train_s"],
                    "overhead_total": median["recipe"]["total_s"] / median["plain"]["total_s"],
                }
            )
            write(args.model, {**env, "repeats": args.repeats, "rows": rows}, args.results_dir)


def record_experiment(env: dict, args, stage: str, median: dict, results_dir: Path) -> None:
    """Append one with/without comparison to experiments.json and re-render RESULTS.md."""
    before, after = median["recipe"], median["candidate"]
    speed = "tokens_per_s" if "tokens_per_s" in before else "episodes_per_s"
    path = results_dir / EXPERIMENTS
    experiments = json.loads(path.read_text()) if path.exists() else []
    experiments.append(
        {
            **env,
            "stage": stage,
            "model": args.model,
            "repeats": args.repeats,
            "try": args.candidate,
            "before": before,
            "after": after,
            "speedup": after[speed] / before[speed],
            "peak_rss_ratio": after["peak_rss_mb"] / before["peak_rss_mb"],
            "verdict": "",
        }
    )
    # The verdict is written by hand once the setting has been checked at the stage level (a full recipe run).
    path.write_text(json.dumps(experiments, indent=2) + "\n")
    render(results_dir)
    print(json.dumps(experiments[-1], indent=2), flush=True)


def write(model: str, results: dict, results_dir: Path) -> None:
    """results_<model>.json (after every stage, so a long run keeps what it measured) and RESULTS.md."""
    (results_dir / f"results_{model}.json").write_text(json.dumps(results, indent=2) + "\n")
    render(results_dir)
    print(json.dumps(results, indent=2), flush=True)


def render(results_dir: Path) -> None:
    results = [json.loads(p.read_text()) for p in sorted(results_dir.glob("results_*.json"))]
    experiments = json.loads((results_dir / EXPERIMENTS).read_text()) if (results_dir / EXPERIMENTS).exists() else []
    (results_dir / "RESULTS.md").write_text(markdown(results, experiments))


def _number(value, digits=0) -> str:
    return tables.cell(value, f"{{:,.{digits}f}}")


def _train_time(row: dict) -> str:
    low, high = row.get("train_s_range", (None, None))
    return f"{row['train_s']:.1f}" + (f" ({low:.1f}-{high:.1f})" if low is not None else "")


def markdown(all_results: list[dict], experiments: list[dict]) -> str:
    """RESULTS.md: one row per stage and model, stating hardware, shape, lengths, batch and versions."""
    lines = [
        "# Benchmarks",
        "",
        "Written by `python -m bench.run`; medians of alternating runs, each in a fresh process.",
        "Throughput counts non-padding tokens (SFT, reward) or episodes (PPO) per second of the training loop.",
        "Overhead = recipe / plain TRL (training loop; end to end: loading, checks, training, saving, merging).",
        "Model FLOPs per token (LoRA) = 4N + 12·L·d·s: N = weights of every linear layer (LM head included,",
        "embeddings excluded; full fine-tuning would be 6N), L layers, width d, s the mean sequence length;",
        "MFU = achieved model FLOP/s / the GPU's dense bf16 peak. Sequence lengths are in tokens (PPO: prompt",
        "+ response_length); batch = sequences (pairs, rollouts) per optimizer step.",
        "",
    ]
    if all("no GPU" in r["hardware"] for r in all_results):
        lines += [
            "No GPU figures yet: every run below is on CPU, so there is no MFU. On a GPU, "
            "`python -m bench.run --model qwen2.5-0.5b` (and `qwen2.5-1.5b`) adds bf16 rows with MFU.",
            "",
        ]
    lines += [
        "`train s` is the recipe's median with the range of all runs of both variants: where the ranges",
        "overlap widely, the overhead ratio is within the machine's run-to-run noise.",
        "",
    ]
    for results in all_results:
        lines += [
            f"Hardware: {results['hardware']}; {results['versions']}; {results['repeats']} runs each.",
            "",
        ]
        lines += tables.markdown(RESULT_COLUMNS, [_result_row(r) for r in results["rows"]])
        lines.append("")
        for r in results["rows"]:
            if "generation_s" in r:
                parts = {k: r[f"{k}_s"] for k in ("generation", "scoring", "optimization")}
                total = sum(parts.values())
                lines.append(
                    f"PPO update time ({r['model']}): "
                    + ", ".join(f"{k} {v:.1f} s ({v / total:.0%})" for k, v in parts.items())
                    + "."
                )
        lines.append("")
    if experiments:
        lines += [
            "## Defaults tried",
            "",
            '`python -m bench.run --model M --stages S --try="ARGS"`: the recipe as it is '
            "(before) and with ARGS (after), alternating; speed-up = after / before throughput.",
            "",
        ]
        lines += tables.markdown(EXPERIMENT_COLUMNS, [_experiment_row(e) for e in experiments])
        lines.append("")
    return "\n".join(lines)


def _result_row(r: dict) -> list[str]:
    """A row of RESULTS.md's table: a stage's shape, lengths, batch, throughput, MFU, time, memory and overhead."""
    shape = (
        f"{r['model']} ({r['layers']:.0f} x {r['hidden']:.0f}, {r['matmul_params'] / 1e6:.2f}M)"
        if "layers" in r
        else r["model"]
    )
    lengths = f"{r['seq_mean']:.0f} / {r['seq_max']:.0f}" if "seq_mean" in r else tables.MISSING
    return [
        r["stage"],
        shape,
        lengths,
        _number(r.get("batch")),
        _number(r.get("tokens_per_s")),
        _number(r.get("episodes_per_s"), 1),
        _number(r.get("model_tflops"), 4),
        tables.cell(r.get("mfu"), "{:.1%}"),
        _train_time(r),
        f"{r['peak_rss_mb']:.0f}",
        f"{r['overhead_train']:.3f}",
        f"{r['overhead_total']:.3f}",
    ]


def _experiment_row(e: dict) -> list[str]:
    """A row of the defaults tried: the setting, throughput before and after, speed-up, memory, verdict."""
    unit = "tokens/s" if "tokens_per_s" in e["before"] else "episodes/s"
    key = "tokens_per_s" if unit == "tokens/s" else "episodes_per_s"
    return [
        e["stage"],
        e["model"],
        f"`{e['try']}`",
        f"{e['before'][key]:,.1f} {unit}",
        f"{e['after'][key]:,.1f} {unit}",
        f"{e['speedup']:.3f}",
        f"{e['peak_rss_ratio']:.2f}",
        e["hardware"],
        e.get("verdict", ""),
    ]


if __name__ == "__main__":
    main()
