"""The quickstart's quality over seeds and CPU kernels: min / median / max.

    python -m bench.quality --seeds 5 --cpu-capabilities default avx2 [avx512] [--recipes recipes/quickstart]
    python -m bench.quality --seeds 3 --cpu-capabilities default avx2 --methods ppo rloo grpo dpo
    python -m bench.quality --seeds 5 --cpu-capabilities default avx2 --rebuild-tiny 1   # fresh builds, not the shipped one
    python -m bench.quality --seeds 5 --cpu-capabilities default avx2 --rounds 2   # iterated RLHF, per round
    python -m bench.quality --seeds 3 --cpu-capabilities default avx2 --ptx-coef 0.1 0.3   # PPO-ptx against PPO
    python -m bench.quality --seeds 5 --cpu-capabilities default avx2 --methods ppo trl-ppo --output bench/PPO_VS_TRL.json
                                                    # ours beside TRL 1.12's PPOTrainer (in a TRL 1.12 venv)

Runs the whole pipeline (SFT -> reward -> PPO, or every method of `--methods` from the same SFT
and reward models -> report) once per seed, every stage's seed set to it, each in a fresh process
under `ATEN_CPU_CAPABILITY` set to each of `--cpu-capabilities` (PyTorch's CPU kernels: another
processor's rounding, on this one; a capability this processor lacks is skipped, and said so), with
an empty cache per capability. The runs start from the tiny model shipped in the package, as every
user's do; `--rebuild-tiny K` instead builds K tiny models (pre-training seeds 0..K-1) under each
capability first, as machines did before the build was shipped. Writes bench/QUALITY.json (every
run) and the sweep's table in bench/QUALITY.md (between its markers); with `--methods`,
bench/METHODS.json and the comparison table (median and range per method); with `--rounds N`,
bench/ROUNDS.json and a table per round (`rlhf_recipes.rounds`: gold win against SFT and the round
before, the reward model's accuracy on held-out policy samples, repetition, stage time); with
`--ptx-coef`, PPO again with each γ from the same SFT and reward models, bench/PTX.json and a table of
gold win, KL and the alignment tax (LM loss on held-out plain text above SFT's) per γ.
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

from bench import trl_ppo
from rlhf_recipes.evaluation import tables
from rlhf_recipes.evaluation.tables import COSTS, DRIFT, REWARD_MODEL, Figure, judge_figures

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SEEDS = (42, 1, 2, 3, 4, 5, 6, 7, 8, 9)  # 42 first: the recipes' own seed
MARKERS = ("<!-- sweep:start -->", "<!-- sweep:end -->")
METHOD_MARKERS = ("<!-- methods:start -->", "<!-- methods:end -->")
ROUND_MARKERS = ("<!-- rounds:start -->", "<!-- rounds:end -->")
PTX_MARKERS = ("<!-- ptx:start -->", "<!-- ptx:end -->")
CAPABILITIES = ("default", "avx2", "avx512")  # ATEN_CPU_CAPABILITY values on x86
# The report's figures (one table: rlhf_recipes.evaluation.tables) and a run's own; stage time is the sum of
# the four stages' seconds.
FIGURES = {f.key: f for f in (*REWARD_MODEL, *judge_figures("gold", ["well_formed"]), *DRIFT, *COSTS)}
COLUMNS = (
    Figure("mood_coherence", "base moods", "{:.2f}"),
    Figure("rm_accuracy", "RM accuracy", "{:.3f}"),
    FIGURES["gold_win_rate"],
    FIGURES["gold_mean_policy"].reference,
    FIGURES["gold_mean_policy"],
    FIGURES["kl_mean"],
    FIGURES["gold_well_formed_policy"],
    FIGURES["repeated_word_rate_policy"].reference,
    FIGURES["repeated_word_rate_policy"],
    FIGURES["win_rate_reward_model"],
    *(Figure(f"{stage}_s", f"{stage} s", "{:.0f}") for stage in ("sft", "reward", "ppo")),
    Figure("stage_s", "stage s", "{:.0f}"),
)
RUN_KEYS = {"mood_coherence", "rm_accuracy", "sft_s", "reward_s", "ppo_s", "stage_s"}  # a run's own, not the report's
# Per method, summarised as median (min-max).
METHOD_COLUMNS = tuple(
    FIGURES[key] for key in ("gold_win_rate", "kl_mean", "gold_well_formed_policy", "win_rate_reward_model", "stage_s")
)
# Per γ of PPO-ptx (0: plain PPO), summarised as median (min-max).
PTX_COLUMNS = (
    *(
        FIGURES[key]
        for key in (
            "gold_win_rate",
            "kl_mean",
            "lm_loss_policy",
            "alignment_tax",
            "repeated_word_rate_policy",
            "win_rate_reward_model",
        )
    ),
    Figure("ppo_s", "ppo s", "{:.0f}"),
)


def run_one(
    recipes: Path,
    output_dir: Path,
    seed: int,
    tiny_seed: int | None,
    methods: tuple[str, ...],
    rounds: int = 1,
    ptx_coefs: tuple[float, ...] = (),
    reuse_from: Path | None = None,
) -> dict:
    """One pipeline run in this process (from the shipped tiny model, or the cached build `tiny_seed`); its figures.
    With `rounds` > 1, iterated RLHF from the shipped tiny model: its rounds' figures. With `ptx_coefs`, PPO again
    with each γ from the same SFT and reward models: their figures under "ptx", by γ ("0": the run's own)."""
    import torch

    from rlhf_recipes.pipeline import run_pipeline
    from rlhf_recipes.quickstart import tiny_model

    if rounds > 1:
        from rlhf_recipes.rounds import run_rounds

        result = run_rounds(recipes, output_dir, rounds, force=True, seed=seed, methods=methods)
        return {
            "seed": seed,
            "cpu_capability": torch.backends.cpu.get_cpu_capability().lower(),
            "rounds": result["rounds"],
            "settings": result["settings"],
        }

    if tiny_seed is None:
        overrides, tiny_dir = {}, tiny_model.resolve(tiny_model.BUILTIN_TINY)
    else:
        tiny_dir = str(tiny_model.build(tiny_model.cached_folder(tiny_seed), tiny_seed))
        overrides = {"sft": ["--model_name_or_path", tiny_dir]}
    reuse = {stage: reuse_from / stage for stage in ("sft", "reward")} if reuse_from else None
    report = run_pipeline(recipes, output_dir, force=True, seed=seed, overrides=overrides, methods=methods, reuse=reuse)
    figures, timings = report["policy_vs_reference"], report["timings"]
    ptx = {"0": report} if ptx_coefs else {}
    for coef in ptx_coefs:
        ptx[f"{coef:g}"] = run_pipeline(
            recipes,
            output_dir / f"ptx-{coef:g}",
            force=True,
            seed=seed,
            overrides={**overrides, "ppo": ["--ptx_coef", str(coef)]},
            methods=("ppo",),
            reuse={"sft": output_dir / "sft", "reward": output_dir / "reward"},
        )
    keys = (
        *dict.fromkeys(f.key for f in (*COLUMNS, *METHOD_COLUMNS) if f.key not in RUN_KEYS),
        "reward_hacking",
        "gold_verdicts_policy",
        "gold_verdicts_reference",
    )
    return {
        "seed": seed,
        "cpu_capability": torch.backends.cpu.get_cpu_capability().lower(),
        "tiny": "shipped" if tiny_seed is None else f"build {tiny_seed}",
        "mood_coherence": tiny_model.build_info(tiny_dir).get("mood_coherence"),
        "rm_accuracy": report["reward_model"]["eval_accuracy"],
        **{key: figures.get(key) for key in keys},
        **{key: timings.get(key) for key in ("sft_s", "reward_s", "ppo_s", "report_s")},
        "stage_s": timings["total_s"],
        "methods": {
            name: {key: f.get(key) for key in (*keys, "stage_s", "peak_memory_mb")}
            | {"suspected": f["hacking_indicators"]["suspected"], "drift": f["hacking_indicators"]["drift"]}
            for name, f in report["methods"].items()
        },
        "ptx": {
            coef: {f.key: r["policy_vs_reference"].get(f.key) for f in PTX_COLUMNS if f.key != "ppo_s"}
            | {"ppo_s": r["timings"].get("ppo_s"), "barely_moved": r["policy_vs_reference"].get("barely_moved")}
            for coef, r in ptx.items()
        },
    }


def supported(capabilities: list[str], own: str) -> tuple[list[str], list[str]]:
    """(capabilities this processor runs, those it lacks). PyTorch takes `ATEN_CPU_CAPABILITY` as given, without
    checking the processor (avx512 kernels on a processor without AVX-512 would die of an illegal instruction), so
    a capability above the processor's own best (`own`, read without the variable set) is skipped."""
    ran = [c for c in capabilities if CAPABILITIES.index(c) <= CAPABILITIES.index(own)]
    skipped = [c for c in capabilities if c not in ran]
    for capability in skipped:
        print(f"skipping {capability}: this processor's best CPU kernels are {own}", flush=True)
    return ran, skipped


def child(command: list[str], env: dict, log: Path) -> str:
    """Run `python -m bench.quality ...` in a fresh process; its last line of output (or the run's end on failure)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.quality", *command], cwd=REPO, env=env, capture_output=True, text=True
    )
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed (log {log}):\n{(done.stdout + done.stderr)[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


def sweep(
    recipes: Path,
    seeds: list[int],
    capabilities: list[str],
    tiny_seeds: list[int | None],
    work_dir: Path,
    methods: list[str],
    rounds: int = 1,
    ptx_coefs: tuple[float, ...] = (),
    reuse_from: Path | None = None,
    kept: tuple[dict, ...] = (),
) -> list[dict]:
    """Every (capability, build, seed) in a fresh process under that capability, with an empty cache per capability;
    a run already in `kept` (an earlier sweep's, same capability, build and seed) is taken from there instead."""
    runs = []
    done = {(r["cpu_capability"], r["tiny"], r["seed"]): r for r in kept}
    for capability in capabilities:
        env = os.environ | {
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "TRL_EXPERIMENTAL_SILENCE": "1",
            "ATEN_CPU_CAPABILITY": capability,
            "RLHF_RECIPES_CACHE": str(work_dir / f"cache-{capability}"),
            "HF_DATASETS_CACHE": str(work_dir / f"datasets-{capability}"),
        }
        for tiny_seed in tiny_seeds:
            build_s = None
            if tiny_seed is not None:  # built once per machine, before any stage: timed apart from the stages
                build_s = float(
                    child(["--build", str(tiny_seed)], env, work_dir / f"{capability}-build{tiny_seed}.log")
                )
                print(f"{capability}: tiny model built with seed {tiny_seed} in {build_s:.0f} s", flush=True)
            for seed in seeds:
                tiny = "shipped" if tiny_seed is None else f"build {tiny_seed}"
                name = f"{capability}-{tiny.replace(' ', '')}-seed{seed}"
                if (capability, tiny, seed) in done:
                    runs.append(done[(capability, tiny, seed)])
                    continue
                command = [
                    "--one",
                    str(seed),
                    "" if tiny_seed is None else str(tiny_seed),
                    "--recipes",
                    str(recipes),
                    "--work-dir",
                    str(work_dir / name),
                    "--rounds",
                    str(rounds),
                    "--methods",
                    *methods,
                    *(["--ptx-coef", *map(str, ptx_coefs)] if ptx_coefs else []),
                    *(["--reuse-from", str(reuse_from / name)] if reuse_from else []),
                ]
                start = time.perf_counter()
                run = json.loads(child(command, env, work_dir / f"{name}.log"))
                run["wall_s"], run["tiny_build_s"] = round(time.perf_counter() - start, 1), build_s
                runs.append(run)
                if rounds > 1:
                    print(
                        f"{capability} seed {seed}: "
                        + "; ".join(
                            f"round {r}: gold win {f['gold_win_vs_sft']:.3f}, probe {f['probe_accuracy']}, repeats "
                            f"{f['repeated_word_rate']:.3f}"
                            for r, f in run["rounds"].items()
                        ),
                        flush=True,
                    )
                    continue
                print(
                    " ".join(
                        f"{key}={run[key]}"
                        for key in (
                            "cpu_capability",
                            "tiny",
                            "seed",
                            "rm_accuracy",
                            "gold_win_rate",
                            "kl_mean",
                            "stage_s",
                        )
                    ),
                    flush=True,
                )
                for coef, f in run["ptx"].items():
                    print(
                        f"  γ {coef}: gold win {f['gold_win_rate']:.3f}, KL {f['kl_mean']:.2f}, tax "
                        f"{f['alignment_tax']:+.3f}",
                        flush=True,
                    )
    return runs


def build_one(tiny_seed: int) -> float:
    """Build the tiny model `tiny_seed` into this process's cache; seconds taken."""
    from rlhf_recipes.quickstart import tiny_model

    start = time.perf_counter()
    tiny_model.build(tiny_model.cached_folder(tiny_seed), tiny_seed)
    return round(time.perf_counter() - start, 1)


def summary(runs: list[dict]) -> dict:
    """min / median / max of every numeric figure."""
    numeric = [f.key for f in COLUMNS]
    values = {key: [r[key] for r in runs if r[key] is not None] for key in numeric}
    return {
        stat: {key: fn(values[key]) if values[key] else None for key in numeric}
        for stat, fn in (("min", min), ("median", statistics.median), ("max", max))
    }


def table(runs: list[dict]) -> str:
    """Every run, then min / median / max per capability (when there are several) and over all runs."""
    header = ["CPU kernels", "tiny model", "seed", *(f.label for f in COLUMNS), "hacking flag"]
    rows = [
        [
            r["cpu_capability"],
            r["tiny"],
            r["seed"],
            *(f.cell(r[f.key]) for f in COLUMNS),
            "yes" if r["reward_hacking"] else "no",
        ]
        for r in runs
    ]
    capabilities = list(dict.fromkeys(r["cpu_capability"] for r in runs))
    groups = [(c, [r for r in runs if r["cpu_capability"] == c]) for c in capabilities] if len(capabilities) > 1 else []
    for label, group in groups + [("all", runs)]:
        for stat, figures in summary(group).items():
            rows.append([f"**{label}: {stat}**", "", "", *(f.cell(figures[f.key]) for f in COLUMNS), ""])
    return "\n".join(tables.markdown(header, rows))


def spread(values: list[float], cell) -> str:
    """A table cell: the median (min-max) of `values`, each written by `cell`; "–" when there are none."""
    if not values:
        return tables.MISSING
    return f"{cell(statistics.median(values))} ({cell(min(values))}–{cell(max(values))})"


def method_table(runs: list[dict]) -> str:
    """Per method: median (min-max) over the runs, and how often the hacking indicators agreed with the gold labeler."""
    rows = []
    for method in runs[0]["methods"]:
        figures = [r["methods"][method] for r in runs]
        cells = []
        for column in METHOD_COLUMNS:
            values = [f[column.key] for f in figures if f[column.key] is not None]
            cells.append(spread(values, column.cell))
        hacked = sum(bool(f["reward_hacking"]) for f in figures)
        agree = sum(bool(f["reward_hacking"]) == f["suspected"] for f in figures)
        rows.append([method, *cells, f"{hacked}/{len(figures)}", f"{agree}/{len(figures)}"])
    header = ["method", *(f.label for f in METHOD_COLUMNS), "hacking (gold)", "indicators agree"]
    return "\n".join(tables.markdown(header, rows))


def round_table(runs: list[dict]) -> str:
    """Per round: median (min-max) over the runs of each of the rounds' figures."""
    from rlhf_recipes.rounds import COLUMNS as ROUND_COLUMNS

    rows = []
    for r in runs[0]["rounds"]:
        cells = []
        for column in ROUND_COLUMNS:
            values = [run["rounds"][r][column.key] for run in runs if run["rounds"][r].get(column.key) is not None]
            cells.append(spread(values, column.cell))
        rows.append([r, *cells])
    return "\n".join(tables.markdown(["round", *(f.label for f in ROUND_COLUMNS)], rows))


def ptx_table(runs: list[dict]) -> str:
    """Per γ (0: PPO): median (min-max) over the runs of gold win, KL, the alignment tax and more."""
    rows = []
    for coef in runs[0]["ptx"]:
        cells = []
        for column in PTX_COLUMNS:
            values = [run["ptx"][coef][column.key] for run in runs if run["ptx"][coef].get(column.key) is not None]
            cells.append(spread(values, column.cell))
        rows.append([coef, *cells])
    return "\n".join(tables.markdown(["γ (ptx_coef)", *(f.label for f in PTX_COLUMNS)], rows))


def marked(markers: tuple[str, str], output: Path | None, default: str) -> tuple[str, str]:
    """The markers of a sweep's table in QUALITY.md: the kind's own for its default JSON, else named after the JSON
    (`<!-- methods PPO_VS_TRL:start -->`), so a second sweep of a kind gets a table of its own."""
    if output is None or output.name == default:
        return markers
    return tuple(marker.replace(":", f" {output.stem}:") for marker in markers)


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
    parser.add_argument(
        "--seeds", type=int, default=3, help=f"runs per build (seeds {', '.join(map(str, SEEDS[:4]))}, ...)"
    )
    parser.add_argument(
        "--cpu-capabilities",
        nargs="+",
        choices=CAPABILITIES,
        metavar="CAPABILITY",
        help=f"ATEN_CPU_CAPABILITY values to run under, of {', '.join(CAPABILITIES)} (default: the processor's own)",
    )
    parser.add_argument(
        "--rebuild-tiny",
        type=int,
        default=0,
        metavar="K",
        help="build K tiny models (pre-training seeds 0..K-1) under each capability instead of using the shipped one",
    )
    parser.add_argument("--recipes", type=Path, default=REPO / "recipes" / "quickstart")
    parser.add_argument("--work-dir", type=Path, help="where the runs go (default: a temporary folder)")
    parser.add_argument("--methods", nargs="+", default=["ppo"], help="third stages to run and compare (default: ppo)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="iterated RLHF: this many rounds per run (the recipe folder's rounds.yaml; the first method)",
    )
    parser.add_argument(
        "--ptx-coef",
        nargs="+",
        type=float,
        default=[],
        metavar="GAMMA",
        help="PPO-ptx: run PPO again with each γ from the same SFT and reward models",
    )
    parser.add_argument(
        "--reuse-from",
        type=Path,
        metavar="WORK_DIR",
        help="read each run's SFT and reward models "
        "from an earlier sweep's --work-dir (its run of the same kernels and seed)",
    )
    parser.add_argument(
        "--keep-runs-of",
        type=Path,
        nargs="+",
        default=[],
        metavar="JSON",
        help="earlier sweeps' outputs: their runs of the same kernels, build and seed are kept, not run again (to add "
        "seeds to a sweep)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="default: bench/QUALITY.json, with --methods bench/METHODS.json, "
        "with --rounds bench/ROUNDS.json, with --ptx-coef bench/PTX.json",
    )
    parser.add_argument("--markdown", type=Path, default=BENCH / "QUALITY.md")
    parser.add_argument("--one", nargs=2, metavar=("SEED", "TINY_SEED"), help=argparse.SUPPRESS)
    parser.add_argument("--build", type=int, metavar="TINY_SEED", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if trl_ppo.NAME in args.methods:  # TRL 1.12's PPOTrainer beside ours
        trl_ppo.register()
        if not (args.recipes / f"{trl_ppo.NAME}.yaml").exists():
            args.recipes = trl_ppo.recipes(args.recipes)
    if args.one:
        seed, tiny_seed = int(args.one[0]), int(args.one[1]) if args.one[1] else None
        print(
            json.dumps(
                run_one(
                    args.recipes,
                    args.work_dir,
                    seed,
                    tiny_seed,
                    tuple(args.methods),
                    args.rounds,
                    tuple(args.ptx_coef),
                    args.reuse_from,
                )
            )
        )
        return
    if args.build is not None:
        print(build_one(args.build))
        return
    if not 1 <= args.seeds <= len(SEEDS):
        parser.error(f"--seeds: 1 to {len(SEEDS)}")
    import torch

    if "ATEN_CPU_CAPABILITY" in os.environ:
        parser.error("unset ATEN_CPU_CAPABILITY: the sweep sets it for each run (--cpu-capabilities)")
    own = torch.backends.cpu.get_cpu_capability().lower()
    best = own if own in CAPABILITIES else "default"  # not x86: of these, only the portable kernels
    capabilities, skipped = supported(args.cpu_capabilities or [best], best)
    if not capabilities:
        parser.error(f"--cpu-capabilities: this processor runs none of {', '.join(skipped)} (its best is {best})")
    tiny_seeds = list(range(args.rebuild_tiny)) or [None]
    tiny = f"{args.rebuild_tiny} fresh tiny build(s) per capability" if args.rebuild_tiny else "the shipped tiny model"
    hardware = (
        f"Hardware: {platform.machine()} ({platform.processor() or 'processor unknown'}, best CPU kernels "
        f"{own}), {os.cpu_count()} CPU threads, torch {torch.__version__}; CPU kernels "
        f"{', '.join(capabilities)}"
        + (f" (skipped, not on this processor: {', '.join(skipped)})" if skipped else "")
        + f"; {args.seeds} seeds x {tiny}, methods "
        f"{', '.join(args.methods)}; each run in a fresh process with an empty cache."
    )
    with tempfile.TemporaryDirectory(prefix="quality-") as tmp:
        work_dir = args.work_dir or Path(tmp)
        work_dir.mkdir(parents=True, exist_ok=True)
        runs = sweep(
            args.recipes.resolve(),
            list(SEEDS[: args.seeds]),
            capabilities,
            tiny_seeds,
            work_dir,
            args.methods,
            args.rounds,
            tuple(args.ptx_coef),
            args.reuse_from and args.reuse_from.resolve(),
            tuple(run for path in args.keep_runs_of for run in json.loads(path.read_text())["runs"]),
        )
    if args.rounds > 1:
        hardware += f" {args.rounds} rounds per run ({args.methods[0]})."
        (args.output or BENCH / "ROUNDS.json").write_text(
            json.dumps({"hardware": hardware, "runs": runs}, indent=2) + "\n"
        )
        write_markdown(args.markdown, marked(ROUND_MARKERS, args.output, "ROUNDS.json"), round_table(runs), hardware)
        print(round_table(runs))
        return
    if args.ptx_coef:
        (args.output or BENCH / "PTX.json").write_text(
            json.dumps({"hardware": hardware, "runs": runs}, indent=2) + "\n"
        )
        write_markdown(args.markdown, marked(PTX_MARKERS, args.output, "PTX.json"), ptx_table(runs), hardware)
        print(ptx_table(runs))
        return
    stats = summary(runs)
    builds = {(r["cpu_capability"], r["tiny"]): r["tiny_build_s"] for r in runs if r["tiny_build_s"] is not None}
    if builds:
        hardware += (
            " Tiny model builds (before the stages): "
            + ", ".join(f"{c} {t} {v:.0f} s" for (c, t), v in builds.items())
            + "."
        )
    compared = args.methods != ["ppo"]
    output = args.output or BENCH / ("METHODS.json" if compared else "QUALITY.json")
    output.write_text(
        json.dumps(
            {
                "hardware": hardware,
                "cpu_capabilities": capabilities,
                "skipped": skipped,
                "runs": runs,
                "summary": stats,
            },
            indent=2,
        )
        + "\n"
    )
    if compared:
        write_markdown(args.markdown, marked(METHOD_MARKERS, output, "METHODS.json"), method_table(runs), hardware)
        print(method_table(runs))
    else:
        write_markdown(args.markdown, marked(MARKERS, output, "QUALITY.json"), table(runs), hardware)
        print(table(runs))


if __name__ == "__main__":
    main()
