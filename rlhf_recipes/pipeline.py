"""The whole pipeline from one recipe folder: sft -> reward -> one or more third stages -> report, each stage as its
declaration says, skipping complete ones and resuming a killed one (docs/recipes.md, "The whole chain")."""

import sys
from pathlib import Path

from rlhf_recipes import methods as third_stages
from rlhf_recipes import reward, sft
from rlhf_recipes.common import artifacts, checkpoints, logs
from rlhf_recipes.common.costs import StageCost
from rlhf_recipes.common.errors import RecipeError, StageStopped
from rlhf_recipes.common.parsing import parse
from rlhf_recipes.common.stages import REWARD, SFT
from rlhf_recipes.evaluation import report as reporting
from rlhf_recipes.evaluation import report_writing

FIRST_STAGES = {stage.name: stage for stage in (sft.STAGE, reward.STAGE)}
REPORT = "report"
# The figures a stage's result line gives, from the last value its trainer logged: (key, label).
RESULT_KEYS = (
    ("eval_accuracy", "held-out accuracy"),
    ("loss", "loss"),
    ("eval_loss", "eval loss"),
    ("objective/scores", "reward"),
    ("reward", "reward"),
    ("objective/kl", "KL"),
    ("kl", "KL"),
    ("rewards/accuracies", "preference accuracy"),
)


def result_line(stage_dir: str | Path) -> str:
    """A finished stage's figures in one line, e.g. `loss 0.912` or `reward 1.31, KL 0.84`."""
    last = {}
    for entry in artifacts.log_history(stage_dir) or []:
        last |= {key: value for key, value in entry.items() if isinstance(value, (int, float))}
    last |= artifacts.read_json(Path(stage_dir) / artifacts.EVAL_FILE, {})
    figures = dict.fromkeys(label for key, label in RESULT_KEYS if key in last)  # one figure per label, the first key
    for key, label in RESULT_KEYS:
        if key in last and figures[label] is None:
            figures[label] = f"{label} {last[key]:.3f}"
    return ", ".join(figures.values())


def chained(stages: dict, output_dir: Path, reuse: dict[str, Path] | None = None) -> dict[str, list[str]]:
    """{stage: command-line overrides} that put every stage (and the report) under `output_dir` and chain them;
    a stage in `reuse` is read from the folder given there instead."""
    folders = {name: str((reuse or {}).get(name, output_dir / name)) for name in (*stages, REPORT)}
    overrides = {name: stage.chained(folders) for name, stage in stages.items()}
    methods = [name for name in stages if name not in FIRST_STAGES]
    overrides[REPORT] = [
        "--output_dir",
        folders[REPORT],
        "--policy",
        *(folders[m] for m in methods),
        "--reference",
        folders[SFT],
        "--reward_model",
        folders[REWARD],
    ]
    return overrides


def end_tracker_run() -> None:
    """End the stage's wandb run: the stages share this process, and the next would log into it."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish()


def run_pipeline(
    recipes: Path,
    output_dir: Path | None = None,
    force: bool = False,
    seed: int | None = None,
    overrides: dict[str, list[str]] | None = None,
    methods: tuple[str, ...] = third_stages.DEFAULT,
    reuse: dict[str, Path] | None = None,
    verbose: bool = False,
) -> dict:
    """Run the stages of `recipes`; returns the report.

    `output_dir` moves every stage's output under it; `seed` sets every stage's seed (the report's
    sampling too); `overrides` adds command-line overrides per stage, e.g. {"sft": ["--learning_rate", "1e-3"]};
    `methods` names the third stages to run and compare; `reuse` names complete stages to read from other folders
    instead of running them, e.g. {"sft": Path("outputs/quickstart/sft")} (with `output_dir`). Without `output_dir`,
    the report compares the policies the YAMLs' output folders name (report.yaml's `policy` is replaced by them).
    `verbose` prints each stage's full log on the console too.
    """
    recipes, methods, available = Path(recipes), tuple(dict.fromkeys(methods)), third_stages.names()
    unknown = [m for m in methods if m not in available]
    if unknown or not methods:
        raise RecipeError(
            f"methods: {', '.join(unknown) or 'none given'}; choose one or more of {', '.join(available)}."
        )
    stages = {**FIRST_STAGES, **{m: third_stages.get(m) for m in methods}}
    missing = [s for s in (*stages, REPORT) if not (recipes / f"{s}.yaml").exists()]
    if missing:
        raise RecipeError(
            f"{recipes}: no {', '.join(s + '.yaml' for s in missing)}; this pipeline needs "
            f"{', '.join(s + '.yaml' for s in (*stages, REPORT))}."
        )
    chain = chained(stages, output_dir, reuse) if output_dir else {}
    parsed = {}
    for name in (*stages, REPORT):  # every YAML is checked before the first stage starts
        extra = [
            *chain.get(name, []),
            *(["--seed", str(seed)] if seed is not None else []),
            *(overrides or {}).get(name, []),
        ]
        make_parser = stages[name].make_parser if name in stages else reporting.make_parser
        parsed[name] = parse(make_parser(), ["--config", str(recipes / f"{name}.yaml"), *extra])
    (report_args,) = parsed[REPORT]
    if not output_dir:
        report_args.policy = [parsed[m][1].output_dir for m in methods]
    timings_path = Path(report_args.output_dir) / artifacts.TIMINGS_FILE
    log_dir = (output_dir or Path(report_args.output_dir).parent) / "logs"
    timings = artifacts.read_json(timings_path, {})
    for name, stage in stages.items():
        stage_dir = parsed[name][1].output_dir
        if name in (reuse or {}):
            if not artifacts.is_complete(stage_dir):
                raise RecipeError(f"{name}: {stage_dir} was given to reuse, but holds no complete stage output.")
            continue
        if artifacts.is_complete(stage_dir) and not force:
            print(f"{name}: complete in {stage_dir}, skipped (--force redoes it)", flush=True)
            continue
        training_args = parsed[name][1]
        unset = training_args.resume_from_checkpoint is None  # an explicit `false` starts over
        if not force and unset and checkpoints.complete_checkpoints(stage_dir, warn=False):  # train() warns, once
            training_args.resume_from_checkpoint = "true"  # killed mid-way: it goes on from its newest checkpoint
        print(f"{name}: {recipes / (name + '.yaml')} -> {stage_dir} (log: {log_dir / name}.log)", flush=True)
        with StageCost() as cost, logs.to_file(log_dir / f"{name}.log", verbose):
            try:
                stage.main(*parsed[name])
            except StageStopped as stopped:
                again = "run the same command again: the stages done are kept, and this one goes on from its newest"
                raise StageStopped(stopped.where, f"{again} checkpoint.\n  {checkpoints.command_line()}") from None
            finally:
                end_tracker_run()
        print(f"{name}: done in {cost.seconds:.0f} s; {result_line(stage_dir)}", flush=True)
        timings |= {f"{name}_s": cost.seconds, f"{name}_peak_mb": cost.peak_mb}
        timings_path.parent.mkdir(parents=True, exist_ok=True)
        artifacts.write_json(timings_path, timings)  # kept for a later run that skips this stage
    print(f"{REPORT}: {', '.join(methods)} against SFT -> {report_args.output_dir}", flush=True)
    with StageCost() as cost, logs.to_file(log_dir / f"{REPORT}.log", verbose):
        report = reporting.compare(report_args)
    timings |= {"report_s": cost.seconds}
    timings["total_s"] = round(sum(timings.get(f"{name}_s") or 0 for name in (*stages, REPORT)), 1)
    artifacts.write_json(timings_path, timings)
    report["timings"] = timings
    with logs.to_file(log_dir / f"{REPORT}.log", verbose):
        report_writing.write(report, report_args.output_dir)
    return report
