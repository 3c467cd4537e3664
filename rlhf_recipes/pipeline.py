"""The whole pipeline from one recipe folder: sft -> reward -> ppo -> report.

Each stage reads its YAML (`<folder>/<stage>.yaml`) and the previous stage's merged output. A stage
whose output is complete is skipped (`force` redoes it); a stage that fails leaves the earlier
stages' results as they were, so running again resumes where it stopped.
"""

import importlib
import json
import time
from pathlib import Path

from rlhf_recipes.common import models
from rlhf_recipes.common.config import parse
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import get_logger

logger = get_logger(__name__)
STAGE_MODULES = {"sft": "rlhf_recipes.sft", "reward": "rlhf_recipes.reward", "ppo": "rlhf_recipes.ppo",
                 "report": "rlhf_recipes.evaluation.report"}
STAGES = tuple(STAGE_MODULES)
TIMINGS_FILE = "timings.json"


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
    for stage in STAGES:
        extra = chained(stage, output_dir) if output_dir else []
        extra += (["--seed", str(seed)] if seed is not None else []) + (overrides or {}).get(stage, [])
        module = importlib.import_module(STAGE_MODULES[stage])
        parsed[stage] = (module, parse(module.make_parser(), ["--config", str(recipes / f"{stage}.yaml"), *extra]))
    report_dir = Path(parsed["report"][1][0].output_dir)
    timings_path = report_dir / TIMINGS_FILE
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    for stage in STAGES[:-1]:
        module, args = parsed[stage]
        stage_dir = args[1].output_dir
        if models.is_complete(stage_dir) and not force:
            logger.info(f"{stage}: complete in {stage_dir}, skipped (force to redo).")
            continue
        logger.info(f"{stage}: running {recipes / (stage + '.yaml')} -> {stage_dir}")
        start = time.perf_counter()
        module.main(*args)
        timings[f"{stage}_s"] = round(time.perf_counter() - start, 1)
        report_dir.mkdir(parents=True, exist_ok=True)
        timings_path.write_text(json.dumps(timings, indent=2))
    module, args = parsed["report"]
    args[0].timings = str(timings_path)
    start = time.perf_counter()
    report = module.main(*args)
    timings["report_s"] = round(time.perf_counter() - start, 1)
    timings["total_s"] = round(sum(v for k, v in timings.items() if k != "total_s"), 1)
    timings_path.write_text(json.dumps(timings, indent=2))
    report["timings"] = timings
    models.write_json(report_dir / "report.json", report)
    has_curves = (report_dir / "ppo_training.png").exists()
    (report_dir / "report.md").write_text(module.markdown(report, has_curves))
    return report
