"""The quickstart's quality over seeds and fresh builds of the tiny model: min / median / max.

    python -m bench.quality --seeds 5 [--rebuild-tiny 2] [--recipes recipes/quickstart]
    python -m bench.quality --seeds 3 --rebuild-tiny 2 --methods ppo rloo grpo dpo

Runs the whole pipeline (SFT -> reward -> PPO, or every method of `--methods` from the same SFT
and reward models -> report) once per seed, every stage's seed set to it, each in a fresh process. The tiny model is built in an empty, temporary cache, as on a new
machine; `--rebuild-tiny K` runs every seed on K builds (pre-training seeds 0..K-1, 0 being the
default), standing in for the slightly different builds other processors make. Writes
bench/QUALITY.json (every run) and the sweep's table in bench/QUALITY.md (between its markers);
with `--methods`, bench/METHODS.json and the comparison table (median and range per method).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SEEDS = (42, 1, 2, 3, 4, 5, 6, 7, 8, 9)  # 42 first: the recipes' own seed
MARKERS = ("<!-- sweep:start -->", "<!-- sweep:end -->")
METHOD_MARKERS = ("<!-- methods:start -->", "<!-- methods:end -->")
# (column, key in a run's figures, format); stage time is the sum of the four stages' seconds.
COLUMNS = (
    ("RM accuracy", "rm_accuracy", "{:.3f}"),
    ("gold win", "gold_win_rate", "{:.1%}"),
    ("gold SFT", "gold_mean_reference", "{:+.3f}"),
    ("gold PPO", "gold_mean_policy", "{:+.3f}"),
    ("KL", "kl_mean", "{:.2f}"),
    ("well-formed PPO", "well_formed_policy", "{:.1%}"),
    ("RM win", "win_rate_reward_model", "{:.1%}"),
    ("sft s", "sft_s", "{:.0f}"),
    ("reward s", "reward_s", "{:.0f}"),
    ("ppo s", "ppo_s", "{:.0f}"),
    ("stage s", "stage_s", "{:.0f}"),
)
# Per method: (column, key in the method's figures, format), summarised as median (min-max).
METHOD_COLUMNS = (
    ("gold win", "gold_win_rate", "{:.1%}"),
    ("KL", "kl_mean", "{:.2f}"),
    ("well-formed", "well_formed_policy", "{:.1%}"),
    ("RM win", "win_rate_reward_model", "{:.1%}"),
    ("stage s", "stage_s", "{:.0f}"),
)


def run_one(recipes: Path, output_dir: Path, seed: int, tiny_seed: int, methods: tuple[str, ...]) -> dict:
    """One pipeline run in this process; returns its figures."""
    from rlhf_recipes.pipeline import run_pipeline
    from rlhf_recipes.quickstart import tiny_model

    overrides = {}
    if tiny_seed != tiny_model.SEED:
        overrides["sft"] = ["--model_name_or_path", str(tiny_model.build(tiny_model.cached_folder(tiny_seed), tiny_seed))]
    report = run_pipeline(recipes, output_dir, force=True, seed=seed, overrides=overrides, methods=methods)
    figures, timings = report["policy_vs_reference"], report["timings"]
    keys = ("gold_win_rate", "gold_mean_reference", "gold_mean_policy", "kl_mean", "well_formed_policy",
            "well_formed_reference", "win_rate_reward_model", "reward_hacking")  # fmt: skip
    return {
        "seed": seed,
        "tiny_seed": tiny_seed,
        "rm_accuracy": report["reward_model"]["eval_accuracy"],
        **{key: figures.get(key) for key in keys},
        **{key: timings.get(key) for key in ("sft_s", "reward_s", "ppo_s", "report_s")},
        "stage_s": timings["total_s"],
        "methods": {name: {key: f.get(key) for key in (*keys, "stage_s", "peak_memory_mb")}
                    | {"suspected": f["hacking_indicators"]["suspected"], "drift": f["hacking_indicators"]["drift"]}
                    for name, f in report["methods"].items()},
    }  # fmt: skip


def sweep(recipes: Path, seeds: list[int], tiny_seeds: list[int], work_dir: Path, methods: list[str]) -> list[dict]:
    """Every (build, seed) in a fresh process, all sharing one new, empty cache for the tiny model."""
    from rlhf_recipes.quickstart import tiny_model

    os.environ["RLHF_RECIPES_CACHE"] = str(work_dir / "cache")  # this process builds the tiny models there
    env = os.environ | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRL_EXPERIMENTAL_SILENCE": "1"}
    runs = []
    for tiny_seed in tiny_seeds:
        start = time.perf_counter()  # built once per machine, before any stage: timed apart from the stages
        tiny_model.build(tiny_model.cached_folder(tiny_seed), tiny_seed)
        build_s = round(time.perf_counter() - start, 1)
        print(f"tiny model built with seed {tiny_seed} in {build_s} s", flush=True)
        for seed in seeds:
            out = work_dir / f"tiny{tiny_seed}-seed{seed}"
            command = [sys.executable, "-m", "bench.quality", "--one", str(seed), str(tiny_seed),
                       "--recipes", str(recipes), "--work-dir", str(out), "--methods", *methods]  # fmt: skip
            start = time.perf_counter()
            done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
            (work_dir / f"tiny{tiny_seed}-seed{seed}.log").write_text(done.stdout + done.stderr)
            if done.returncode != 0:
                raise SystemExit(f"run tiny_seed={tiny_seed} seed={seed} failed:\n{(done.stdout + done.stderr)[-3000:]}")
            run = json.loads(done.stdout.strip().splitlines()[-1])
            run["wall_s"] = round(time.perf_counter() - start, 1)
            run["tiny_build_s"] = build_s
            runs.append(run)
            print(" ".join(f"{key}={run[key]}" for key in ("tiny_seed", "seed", "rm_accuracy", "gold_win_rate",
                                                           "kl_mean", "stage_s")), flush=True)  # fmt: skip
    return runs


def summary(runs: list[dict]) -> dict:
    """min / median / max of every numeric figure."""
    numeric = [key for _, key, _ in COLUMNS]
    values = {key: [r[key] for r in runs if r[key] is not None] for key in numeric}
    return {
        stat: {key: fn(values[key]) if values[key] else None for key in numeric}
        for stat, fn in (("min", min), ("median", statistics.median), ("max", max))
    }


def table(runs: list[dict], stats: dict) -> str:
    header = "| build | seed | " + " | ".join(name for name, _, _ in COLUMNS) + " | hacking flag |"
    lines = [header, "|" + " --- |" * (len(COLUMNS) + 3)]
    cell = lambda fmt, value: "–" if value is None else fmt.format(value)  # noqa: E731
    for r in runs:
        values = " | ".join(cell(fmt, r[key]) for _, key, fmt in COLUMNS)
        lines.append(f"| {r['tiny_seed']} | {r['seed']} | {values} | {'yes' if r['reward_hacking'] else 'no'} |")
    for stat, figures in stats.items():
        values = " | ".join(cell(fmt, figures[key]) for _, key, fmt in COLUMNS)
        lines.append(f"| **{stat}** | | {values} | |")
    return "\n".join(lines)


def method_table(runs: list[dict]) -> str:
    """Per method: median (min-max) over the runs, and how often the hacking indicators agreed with the gold labeler."""
    methods = list(runs[0]["methods"])
    lines = ["| method | " + " | ".join(name for name, _, _ in METHOD_COLUMNS) + " | hacking (gold) | "
             "indicators agree |", "|" + " --- |" * (len(METHOD_COLUMNS) + 3)]  # fmt: skip
    for method in methods:
        figures = [r["methods"][method] for r in runs]
        cells = []
        for _, key, fmt in METHOD_COLUMNS:
            values = [f[key] for f in figures if f[key] is not None]
            cells.append(f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"
                         if values else "–")  # fmt: skip
        hacked = sum(bool(f["reward_hacking"]) for f in figures)
        agree = sum(bool(f["reward_hacking"]) == f["suspected"] for f in figures)
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {hacked}/{len(figures)} | {agree}/{len(figures)} |")
    return "\n".join(lines)


def write_markdown(path: Path, markers: tuple[str, str], body: str, hardware: str) -> None:
    """Put a table between `markers` in QUALITY.md (the experiment log around it stays)."""
    block = "\n".join([markers[0], "", hardware, "", body, "", markers[1]])
    text = path.read_text() if path.exists() else "# Quickstart quality\n"
    if markers[0] not in text:
        text += f"\n{markers[0]}\n{markers[1]}\n"
    start, end = text.index(markers[0]), text.index(markers[1]) + len(markers[1])
    path.write_text(text[:start] + block + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help=f"runs per build (seeds {', '.join(map(str, SEEDS[:4]))}, ...)")
    parser.add_argument("--rebuild-tiny", type=int, default=1, metavar="K", help="tiny models, pre-training seeds 0..K-1")
    parser.add_argument("--recipes", type=Path, default=REPO / "recipes" / "quickstart")
    parser.add_argument("--work-dir", type=Path, help="where the runs go (default: a temporary folder)")
    parser.add_argument("--methods", nargs="+", default=["ppo"], help="third stages to run and compare (default: ppo)")
    parser.add_argument("--output", type=Path, help="default: bench/QUALITY.json, with --methods bench/METHODS.json")
    parser.add_argument("--markdown", type=Path, default=BENCH / "QUALITY.md")
    parser.add_argument("--one", nargs=2, type=int, metavar=("SEED", "TINY_SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.recipes, args.work_dir, *args.one, tuple(args.methods))))
        return
    if not 1 <= args.seeds <= len(SEEDS):
        parser.error(f"--seeds: 1 to {len(SEEDS)}")
    import torch

    hardware = (f"Hardware: {platform.machine()}, {os.cpu_count()} CPU threads, torch {torch.__version__}; "
                f"{args.seeds} seeds x {args.rebuild_tiny} tiny build(s), methods {', '.join(args.methods)}, each run in a "
                "fresh process, "
                "the tiny model built in an empty cache.")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="quality-") as tmp:
        work_dir = args.work_dir or Path(tmp)
        runs = sweep(args.recipes.resolve(), list(SEEDS[: args.seeds]), list(range(args.rebuild_tiny)), work_dir,
                     args.methods)  # fmt: skip
    stats = summary(runs)
    builds = {r["tiny_seed"]: r["tiny_build_s"] for r in runs}
    hardware += " Tiny model builds (before the stages): " + ", ".join(f"seed {k} {v:.0f} s" for k, v in builds.items()) + "."
    compared = args.methods != ["ppo"]
    output = args.output or BENCH / ("METHODS.json" if compared else "QUALITY.json")
    output.write_text(json.dumps({"hardware": hardware, "runs": runs, "summary": stats}, indent=2) + "\n")
    if compared:
        write_markdown(args.markdown, METHOD_MARKERS, method_table(runs), hardware)
        print(method_table(runs))
    else:
        write_markdown(args.markdown, MARKERS, table(runs, stats), hardware)
        print(table(runs, stats))


if __name__ == "__main__":
    main()
