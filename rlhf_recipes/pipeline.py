"""The whole pipeline from one recipe folder: sft -> reward -> one or more third stages -> report.

Each stage reads its YAML (`<folder>/<stage>.yaml`) and the previous stages' merged outputs, as its
declaration says (`common.stages.Stage`). The third stage is PPO by default; `methods` runs several
(any of `methods.available()`: ppo, rloo, grpo, dpo, ...) from the same SFT and reward stages, and
the report compares them all. A stage whose output is complete is skipped
(`force` redoes it); a stage that fails or is killed leaves the earlier stages' results as they were,
so running again resumes where it stopped: from that stage's newest checkpoint, when it saved one.
Each stage's wall time and peak memory go to the report's timings.json.
"""

import sys
from pathlib import Path

from rlhf_recipes import methods as third_stages
from rlhf_recipes import reward, sft
from rlhf_recipes.common import artifacts, checkpoints
from rlhf_recipes.common.costs import StageCost
from rlhf_recipes.common.errors import RecipeError, StageStopped
from rlhf_recipes.common.logs import get_logger
from rlhf_recipes.common.parsing import parse
from rlhf_recipes.common.stages import REWARD, SFT
from rlhf_recipes.evaluation import report as reporting

logger = get_logger(__name__)
FIRST_STAGES = {stage.name: stage for stage in (sft.STAGE, reward.STAGE)}
REPORT = "report"


def chained(stages: dict, output_dir: Path, reuse: dict[str, Path] | None = None) -> dict[str, list[str]]:
    """{stage: command-line overrides} that put every stage (and the report) under `output_dir` and chain them;
    a stage in `reuse` is read from the folder given there instead."""
    folders = {name: str((reuse or {}).get(name, output_dir / name)) for name in (*stages, REPORT)}
    overrides = {name: stage.chained(folders) for name, stage in stages.items()}
    methods = [name for name in stages if name not in FIRST_STAGES]
    overrides[REPORT] = ["--output_dir", folders[REPORT], "--policy", *(folders[m] for m in methods),
                         "--reference", folders[SFT], "--reward_model", folders[REWARD]]  # fmt: skip
    return overrides


def end_tracker_run() -> None:
    """End the stage's wandb run: the stages share this process, and the next would log into it."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish()


def run_pipeline(
    recipes: Path, output_dir: Path | None = None, force: bool = False, seed: int | None = None,
    overrides: dict[str, list[str]] | None = None, methods: tuple[str, ...] = third_stages.DEFAULT,
    reuse: dict[str, Path] | None = None,
) -> dict:
    """Run the stages of `recipes`; returns the report.

    `output_dir` moves every stage's output under it; `seed` sets every stage's seed (the report's
    sampling too); `overrides` adds command-line overrides per stage, e.g. {"sft": ["--learning_rate", "1e-3"]};
    `methods` names the third stages to run and compare; `reuse` names complete stages to read from other folders
    instead of running them, e.g. {"sft": Path("outputs/quickstart/sft")} (with `output_dir`). Without `output_dir`, the report compares the
    policies the YAMLs' output folders name (report.yaml's `policy` is replaced by them).
    """
    recipes, methods, available = Path(recipes), tuple(dict.fromkeys(methods)), third_stages.available()
    unknown = [m for m in methods if m not in available]
    if unknown or not methods:
        raise RecipeError(f"methods: {', '.join(unknown) or 'none given'}; choose one or more of "
                          f"{', '.join(available)}.")  # fmt: skip
    stages = {**FIRST_STAGES, **{m: available[m] for m in methods}}
    missing = [s for s in (*stages, REPORT) if not (recipes / f"{s}.yaml").exists()]
    if missing:
        raise RecipeError(f"{recipes}: no {', '.join(s + '.yaml' for s in missing)}; this pipeline needs "
                          f"{', '.join(s + '.yaml' for s in (*stages, REPORT))}.")  # fmt: skip
    chain = chained(stages, output_dir, reuse) if output_dir else {}
    parsed = {}
    for name in (*stages, REPORT):  # every YAML is checked before the first stage starts
        extra = [*chain.get(name, []), *(["--seed", str(seed)] if seed is not None else []),
                 *(overrides or {}).get(name, [])]  # fmt: skip
        make_parser = stages[name].make_parser if name in stages else reporting.make_parser
        parsed[name] = parse(make_parser(), ["--config", str(recipes / f"{name}.yaml"), *extra])
    (report_args,) = parsed[REPORT]
    if not output_dir:
        report_args.policy = [parsed[m][1].output_dir for m in methods]
    timings_path = Path(report_args.output_dir) / artifacts.TIMINGS_FILE
    timings = artifacts.read_json(timings_path, {})
    for name, stage in stages.items():
        stage_dir = parsed[name][1].output_dir
        if name in (reuse or {}):
            if not artifacts.is_complete(stage_dir):
                raise RecipeError(f"{name}: {stage_dir} was given to reuse, but holds no complete stage output.")
            continue
        if artifacts.is_complete(stage_dir) and not force:
            logger.info(f"{name}: complete in {stage_dir}, skipped (force to redo).")
            continue
        training_args = parsed[name][1]
        unset = training_args.resume_from_checkpoint is None  # an explicit `false` starts over
        if not force and unset and checkpoints.complete_checkpoints(stage_dir, warn=False):  # train() warns, once
            training_args.resume_from_checkpoint = "true"  # killed mid-way: it goes on from its newest checkpoint
        logger.info(f"{name}: running {recipes / (name + '.yaml')} -> {stage_dir}")
        with StageCost() as cost:
            try:
                stage.main(*parsed[name])
            except StageStopped as stopped:
                again = "run the same command again: the stages done are kept, and this one goes on from its newest"
                raise StageStopped(stopped.where, f"{again} checkpoint.\n  {checkpoints.command_line()}") from None
            finally:
                end_tracker_run()
        timings |= {f"{name}_s": cost.seconds, f"{name}_peak_mb": cost.peak_mb}
        timings_path.parent.mkdir(parents=True, exist_ok=True)
        artifacts.write_json(timings_path, timings)  # kept for a later run that skips this stage
    with StageCost() as cost:
        report = reporting.compare(report_args)
    timings |= {"report_s": cost.seconds}
    timings["total_s"] = round(sum(timings.get(f"{name}_s") or 0 for name in (*stages, REPORT)), 1)
    artifacts.write_json(timings_path, timings)
    report["timings"] = timings
    reporting.write(report, report_args.output_dir)
    return report
