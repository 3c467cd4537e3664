"""The whole pipeline from one recipe folder: sft -> reward -> ppo -> report.

Each stage reads its YAML (`<folder>/<stage>.yaml`) and the previous stage's merged output. A stage
whose output is complete is skipped (`force` redoes it); a stage that fails leaves the earlier
stages' results as they were, so running again resumes where it stopped.
"""

import time
from pathlib import Path

from rlhf_recipes import ppo, reward, sft
from rlhf_recipes.common import artifacts
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import get_logger
from rlhf_recipes.common.parsing import parse
from rlhf_recipes.evaluation import report as reporting

logger = get_logger(__name__)
TRAINING_STAGES = {"sft": sft, "reward": reward, "ppo": ppo}
STAGES = (*TRAINING_STAGES, "report")


def chained(stage: str, output_dir: Path) -> list[str]:
    """Command-line overrides that put every stage under `output_dir` and chain them there."""
    out = {name: str(output_dir / name) for name in STAGES}
    return {
        "sft": ["--output_dir", out["sft"]],
        "reward": ["--output_dir", out["reward"], "--model_name_or_path", out["sft"]],
        "ppo": ["--output_dir", out["ppo"], "--sft_model_path", out["sft"], "--reward_model_path", out["reward"]],
        "report": ["--output_dir", out["report"], "--policy", out["ppo"], "--reference", out["sft"],
                   "--reward_model", out["reward"]],
    }[stage]  # fmt: skip


def run_pipeline(
    recipes: Path, output_dir: Path | None = None, force: bool = False, seed: int | None = None,
    overrides: dict[str, list[str]] | None = None,
) -> dict:
    """Run the stages of `recipes`; returns the report.

    `output_dir` moves every stage's output under it; `seed` sets every stage's seed (the report's
    sampling too); `overrides` adds command-line overrides per stage, e.g. {"sft": ["--learning_rate", "1e-3"]}.
    """
    recipes = Path(recipes)
    missing = [s for s in STAGES if not (recipes / f"{s}.yaml").exists()]
    if missing:
        raise RecipeError(f"{recipes}: no {', '.join(s + '.yaml' for s in missing)}; a pipeline folder needs "
                          f"{', '.join(s + '.yaml' for s in STAGES)}.")  # fmt: skip
    parsed = {}
    for stage in STAGES:  # every YAML is checked before the first stage starts
        extra = chained(stage, output_dir) if output_dir else []
        extra += (["--seed", str(seed)] if seed is not None else []) + (overrides or {}).get(stage, [])
        module = TRAINING_STAGES.get(stage, reporting)
        parsed[stage] = parse(module.make_parser(), ["--config", str(recipes / f"{stage}.yaml"), *extra])
    (report_args,) = parsed["report"]
    timings_path = Path(report_args.output_dir) / artifacts.TIMINGS_FILE
    timings = artifacts.read_json(timings_path, {})
    for stage, module in TRAINING_STAGES.items():
        stage_dir = parsed[stage][1].output_dir
        if artifacts.is_complete(stage_dir) and not force:
            logger.info(f"{stage}: complete in {stage_dir}, skipped (force to redo).")
            continue
        logger.info(f"{stage}: running {recipes / (stage + '.yaml')} -> {stage_dir}")
        start = time.perf_counter()
        module.main(*parsed[stage])
        timings[f"{stage}_s"] = round(time.perf_counter() - start, 1)
        timings_path.parent.mkdir(parents=True, exist_ok=True)
        artifacts.write_json(timings_path, timings)  # kept for a later run that skips this stage
    start = time.perf_counter()
    report = reporting.compare(report_args)
    timings["report_s"] = round(time.perf_counter() - start, 1)
    timings["total_s"] = round(sum(v for k, v in timings.items() if k != "total_s"), 1)
    artifacts.write_json(timings_path, timings)
    report["timings"] = timings
    reporting.write(report, report_args.output_dir)
    return report
