"""The prepared GPU check: the README's GPU figures measured in one command of at most 9 minutes.

    bash bench/gpu_check.sh                 # on a GPU machine: installs the carried wheels, then runs this
    python -m bench.gpu_check --cpu         # the same parts on the tiny model, on CPU (a test runs it)
    python -m bench.gpu_check --publish DIR # put a finished check's measured rows into the READMEs

Parts run one after another, each in its own process under its own time budget: a part that runs
out of time is reported as such, and the parts after it still run. `bench.run` does the measuring
(throughput, model TFLOP/s and MFU, PPO's generation / scoring / optimisation split, peak GPU memory);
`--try` of the quantization settings gives QLoRA against LoRA on the same shape. Writes
gpu_check.json and gpu_check.md under --out (default: $OUT, else bench/gpu_check/).
"""

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from rlhf_recipes.evaluation import tables

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
QLORA = "--load_in_4bit true --bnb_4bit_quant_type nf4 --use_bnb_nested_quant true"
MARKERS = ("<!-- gpu-check:start -->", "<!-- gpu-check:end -->")
# The measured table's columns: per model and stage, speed, MFU, PPO's split and peak memory.
MEASURED_COLUMNS = (
    "model",
    "stage",
    "variant",
    "tokens/s or episodes/s",
    "TFLOP/s",
    "MFU",
    "PPO generation share",
    "peak GPU GB",
)
# (part, seconds, bench.run arguments on a GPU, the same on CPU); the budgets add up to 8.5 minutes.
BENCH_PARTS = (
    ("qwen2.5-0.5b: SFT, reward, PPO", 100, "--model qwen2.5-0.5b --repeats 1", "--model tiny --repeats 1"),
    (
        "qwen2.5-1.5b: SFT, reward, PPO",
        130,
        "--model qwen2.5-1.5b --repeats 1",
        "--model tiny --repeats 1 --stages sft",
    ),
    (
        "qwen2.5-1.5b: QLoRA vs LoRA",
        110,
        f"--model qwen2.5-1.5b --repeats 1 --try='{QLORA}'",
        f"--model tiny --repeats 1 --stages sft --try='{QLORA}'",
    ),
    (
        "qwen2.5-7b: QLoRA SFT on 24 GB?",
        120,
        f"--model qwen2.5-7b --stages sft --repeats 1 --try='{QLORA}'",
        f"--model tiny --stages sft --repeats 1 --try='{QLORA}'",
    ),
)
TESTS_PART = ("gpu tests: one GPU, DeepSpeed ZeRO-2/3, FSDP", 45)
CPU_SLACK = 3  # the dry run checks that every part works, not its speed: on CPU each budget is tripled


def environment() -> dict:
    """GPU, memory, library versions and bf16 support."""
    import peft
    import torch
    import transformers
    import trl

    gpu = torch.cuda.is_available()
    return {
        "gpu": torch.cuda.get_device_name() if gpu else None,
        "gpu_memory_gb": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1) if gpu else None,
        "bf16": gpu and torch.cuda.is_bf16_supported(),
        "deepspeed": shutil.which("ds_report") is not None,
        "versions": {m.__name__: m.__version__ for m in (torch, transformers, trl, peft)},
    }


def run_part(name: str, budget_s: float, command: list[str], log: Path) -> dict:
    """Run one part in its own process; {"part", "status": ok | failed | timed out, "seconds", "log"}."""
    start = time.perf_counter()
    with open(log, "w") as out:
        try:
            done = subprocess.run(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, timeout=budget_s)
            status = "ok" if done.returncode == 0 else f"failed (exit {done.returncode})"
        except subprocess.TimeoutExpired:
            status = f"timed out after {budget_s:.0f} s"
    seconds = round(time.perf_counter() - start, 1)
    print(f"{name}: {status} in {seconds} s", flush=True)
    return {"part": name, "status": status, "seconds": seconds, "log": log.name}


def collect(part_dirs: dict[str, Path]) -> dict:
    """What `bench.run` wrote in each part's folder: its rows per model and its QLoRA-vs-LoRA experiments."""
    report = {"bench": {}, "experiments": []}
    for part, folder in part_dirs.items():
        for path in sorted(folder.glob("results_*.json")):
            report["bench"][part] = json.loads(path.read_text()) | {"model": path.stem.removeprefix("results_")}
        if (folder / "experiments.json").exists():
            report["experiments"] += json.loads((folder / "experiments.json").read_text())
    return report


def check(out: Path, cpu: bool) -> dict:
    """Every part within its budget; the report as a dict (also written to out/gpu_check.json)."""
    out.mkdir(parents=True, exist_ok=True)
    report = {"environment": environment(), "cpu_dry_run": cpu, "parts": []}
    part_dirs = {}
    for i, (name, budget, gpu_args, cpu_args) in enumerate(BENCH_PARTS):
        part_dirs[name] = out / f"part{i}"
        command = [
            sys.executable,
            "-m",
            "bench.run",
            *shlex.split(cpu_args if cpu else gpu_args),
            "--results-dir",
            str(part_dirs[name]),
        ]
        report["parts"].append(run_part(name, budget * (CPU_SLACK if cpu else 1), command, out / f"part{i}.log"))
    tests = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "tests/test_gpu_launch.py", "-p", "no:cacheprovider"]
    name, budget = TESTS_PART
    report["parts"].append(run_part(name, budget * (CPU_SLACK if cpu else 1), tests, out / "tests.log"))
    report |= collect(part_dirs)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "gpu_check.md").write_text(markdown(report))
    return report


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [
        "# GPU check",
        "",
        f"GPU: {env['gpu'] or 'none (CPU dry run)'}, {env['gpu_memory_gb']} GB, bf16 "
        f"{env['bf16']}; " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()) + ".",
        "",
    ]
    lines += tables.markdown(
        ["part", "status", "seconds"], [[p["part"], p["status"], f"{p['seconds']:.0f}"] for p in report["parts"]]
    )
    return "\n".join(lines + ["", measured_rows(report), ""])


def measured_rows(report: dict) -> str:
    """The measured table the READMEs show: per model and stage, speed, MFU, PPO's split and peak memory."""
    cell, rows = tables.cell, []
    for results in report["bench"].values():
        for row in results["rows"]:
            rows.append(
                [
                    results["model"],
                    row["stage"],
                    "LoRA",
                    cell(row.get("tokens_per_s", row.get("episodes_per_s")), "{:.0f}"),
                    cell(row.get("model_tflops"), "{:.1f}"),
                    cell(row.get("mfu"), "{:.1%}"),
                    cell(_generation_share(row), "{:.0%}"),
                    cell(_gb(row.get("peak_gpu_mb")), "{:.1f}"),
                ]
            )
    for e in report["experiments"]:
        for variant, figures in (("LoRA", e["before"]), ("QLoRA (nf4, double quant)", e["after"])):
            speed = cell(figures.get("tokens_per_s", figures.get("episodes_per_s")), "{:.0f}")
            unmeasured = [tables.MISSING] * 3  # TFLOP/s, MFU, PPO's split: not measured by a --try
            rows.append(
                [e["model"], e["stage"], variant, speed, *unmeasured, cell(_gb(figures.get("peak_gpu_mb")), "{:.1f}")]
            )
    return "\n".join(tables.markdown(MEASURED_COLUMNS, rows))


def _generation_share(row: dict) -> float | None:
    parts = [row.get(f"{k}_s") for k in ("generation", "scoring", "optimization")]
    return None if None in parts else parts[0] / sum(parts)


def _gb(mb: float | None) -> float | None:
    return None if mb is None else mb / 1024


READMES = (REPO / "docs" / "launching.md", REPO / "recipes" / "README.md")


def publish(results_dir: Path, readmes: tuple[Path, ...] = READMES) -> None:
    """Put a finished check's measured rows between the markers of each README (replacing the estimates note)."""
    report = json.loads((results_dir / "gpu_check.json").read_text())
    if report["cpu_dry_run"]:
        raise SystemExit(f"{results_dir}: a CPU dry run measures no GPU; publish a check that ran on a GPU.")
    env = report["environment"]
    block = "\n".join(
        [
            MARKERS[0],
            f"Measured by `bench/gpu_check.sh` on {env['gpu']} "
            f"({', '.join(f'{k} {v}' for k, v in env['versions'].items())}):",
            "",
            measured_rows(report),
            MARKERS[1],
        ]
    )
    for path in readmes:
        text = path.read_text()
        start, end = text.index(MARKERS[0]), text.index(MARKERS[1]) + len(MARKERS[1])
        path.write_text(text[:start] + block + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="dry run: the same parts on the tiny model, on CPU")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or BENCH / "gpu_check"))
    parser.add_argument("--publish", type=Path, metavar="DIR", help="a finished check's folder: fill the READMEs")
    args = parser.parse_args()
    if args.publish:
        publish(args.publish)
        return
    report = check(args.out, args.cpu)
    print(markdown(report))


if __name__ == "__main__":
    main()
