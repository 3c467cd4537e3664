"""Each quickstart stage killed after its first checkpoint, resumed, and compared with a run never stopped.

    python -m bench.resume [--stages sft reward ppo dpo rloo grpo] [--ddp] [--work-dir DIR]

Every stage runs its shipped quickstart YAML (checkpoints as the recipe saves them), in subprocesses:
uninterrupted; killed with SIGKILL once its first checkpoint is complete; resumed with
`--resume_from_checkpoint true`. SFT starts from the built-in tiny model; the others from the
uninterrupted SFT and reward stages. `--ddp` adds PPO on 2 processes (gloo on CPU, accelerate's
multi_gpu.yaml). Prints, per stage: the steps, where it was killed and the checkpoint it went on
from, the resumed run's wall time against the uninterrupted one's, and the largest difference
between the two merged models' weights.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
QUICKSTART = REPO / "recipes" / "quickstart"
MODULES = {
    "sft": "rlhf_recipes.sft",
    "reward": "rlhf_recipes.reward",
    "ppo": "rlhf_recipes.methods.ppo",
    "dpo": "rlhf_recipes.methods.dpo",
    "rloo": "rlhf_recipes.methods.rloo",
    "grpo": "rlhf_recipes.methods.grpo",
}
FINAL = {"sft": "loss", "reward": "loss", "dpo": "loss", "ppo": "objective/scores", "rloo": "reward", "grpo": "reward"}
DDP = ["-m", "accelerate.commands.launch", "--config_file", str(REPO / "accelerate_configs" / "multi_gpu.yaml")]


def start(command: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    """A stage's command line in a subprocess, its output to `log`; Ctrl-C reaches it as from a terminal, even when
    this process runs in a background job (which ignores SIGINT, and a child would inherit that)."""
    return subprocess.Popen(
        command,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=os.environ | {"PYTHONPATH": str(REPO)} | (env or {}),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def stop_after_first_checkpoint(process: subprocess.Popen, output_dir: Path, log: Path, sig=signal.SIGKILL) -> Path:
    """Send `sig` once `output_dir` holds a complete checkpoint (the process must still run); that checkpoint."""
    from rlhf_recipes.common import checkpoints

    deadline = time.monotonic() + 600
    while not checkpoints.complete_checkpoints(output_dir, warn=False):  # one may be being written
        if process.poll() is not None:
            raise RuntimeError(f"the stage ended before its first checkpoint:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{output_dir}: no checkpoint within 10 minutes")
        time.sleep(0.05)
    process.send_signal(sig)
    process.wait(timeout=120)
    return checkpoints.complete_checkpoints(output_dir)[0]


def largest_difference(merged_a: Path, merged_b: Path) -> float:
    from safetensors.torch import load_file

    a, b = load_file(merged_a / "model.safetensors"), load_file(merged_b / "model.safetensors")
    return max((a[k] - b[k]).abs().max().item() for k in a)


def stage_args(stage: str, work: Path) -> list[str]:
    """The overrides that chain a stage to the uninterrupted SFT and reward stages in `work`."""
    sft, reward = str(work / "sft" / "whole"), str(work / "reward" / "whole")
    return {
        "sft": [],
        "reward": ["--model_name_or_path", sft],
        "dpo": ["--model_name_or_path", sft],
        "ppo": ["--sft_model_path", sft, "--reward_model_path", reward],
        "rloo": ["--model_name_or_path", sft, "--reward_model_path", reward],
        "grpo": ["--model_name_or_path", sft, "--reward_model_path", reward],
    }[stage]


def measure(stage: str, work: Path, ddp: bool = False) -> dict:
    """Uninterrupted, killed and resumed runs of `stage`; what the table prints."""
    import json

    from rlhf_recipes.common.checkpoints import STATE_FILE

    name = f"{stage}-ddp" if ddp else stage
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    launcher = [sys.executable, *DDP] if ddp else [sys.executable]
    base = [
        *launcher,
        "-m",
        MODULES[stage],
        "--config",
        str(QUICKSTART / f"{stage}.yaml"),
        "--disable_tqdm",
        "true",
        "--report_to",
        "none",
        *stage_args(stage, work),
    ]
    env = {"ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"} if ddp else {}
    seconds = {}
    for run in ("whole", "killed", "resumed"):
        log, began = folder / f"{run}.log", time.monotonic()
        output = folder / ("whole" if run == "whole" else "killed")
        extra = ["--resume_from_checkpoint", "true"] if run == "resumed" else []
        process = start([*base, "--output_dir", str(output), *extra], log, env)
        if run == "killed":
            first = stop_after_first_checkpoint(process, output, log)
        elif process.wait() != 0:
            raise RuntimeError(f"{name} ({run}) failed:\n{log.read_text()[-3000:]}")
        seconds[run] = time.monotonic() - began
    state = json.loads((folder / "whole" / STATE_FILE).read_text())
    final = {run: last_logged(folder / run / STATE_FILE, FINAL[stage]) for run in ("whole", "killed")}
    return {
        "stage": name,
        "steps": state["global_step"],
        "resumed_from": first.name,
        "killed_s": round(seconds["killed"], 1),
        "resumed_s": round(seconds["resumed"], 1),
        "whole_s": round(seconds["whole"], 1),
        "difference": largest_difference(folder / "killed" / "merged", folder / "whole" / "merged"),
        "metric": FINAL[stage],
        "final_whole": final["whole"],
        "final_resumed": final["killed"],
    }


def last_logged(state_file: Path, key: str) -> float:
    """The mean of `key` over the last 4 times the trainer logged it."""
    import json

    values = [entry[key] for entry in json.loads(state_file.read_text())["log_history"] if key in entry][-4:]
    return sum(values) / len(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stages", nargs="+", default=list(MODULES), choices=list(MODULES))
    parser.add_argument("--ddp", action="store_true", help="also PPO on 2 processes")
    parser.add_argument("--work-dir", type=Path, help="where the runs go (default: a temporary folder)")
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="resume-bench-"))
    order = [s for s in MODULES if s in args.stages or (s in ("sft", "reward") and set(args.stages) - {"sft"})]
    rows = [measure(stage, work) for stage in order]
    if args.ddp:
        rows.append(measure("ppo", work, ddp=True))
    print(f"\nHardware: {os.cpu_count()} CPU threads; runs in {work}\n")
    print(table(rows))


def table(rows: list[dict]) -> str:
    """A row per stage: steps, where it was killed and went on from, both runs' times, how far their weights differ."""
    from rlhf_recipes.evaluation import tables

    header = [
        "stage",
        "steps",
        "killed after",
        "resumed from",
        "resumed run",
        "uninterrupted run",
        "largest weight difference",
        "last 4 logged (uninterrupted -> resumed)",
    ]
    cells = [
        [
            r["stage"],
            r["steps"],
            f"{r['killed_s']} s",
            r["resumed_from"],
            f"{r['resumed_s']} s",
            f"{r['whole_s']} s",
            f"{r['difference']:.1e}",
            f"{r['metric']} {r['final_whole']:.4f} -> {r['final_resumed']:.4f}",
        ]
        for r in rows
    ]
    return "\n".join(tables.markdown(header, cells))


if __name__ == "__main__":
    main()
