"""The whole pipeline from one recipe folder: sft -> reward -> one or more third stages -> report.

Each stage reads its YAML (`<folder>/<stage>.yaml`) and the previous stages' merged outputs. The
third stage is PPO by default; `methods` runs several (ppo, rloo, grpo, dpo) from the same SFT
and reward stages, and the report compares them all. A stage whose output is complete is skipped
(`force` redoes it); a stage that fails leaves the earlier stages' results as they were, so running
again resumes where it stopped. Each stage's wall time and peak memory go to the report's timings.json.
"""

from pathlib import Path

from rlhf_recipes import dpo, grpo, ppo, reward, rloo, sft
from rlhf_recipes.common import artifacts
from rlhf_recipes.common.costs import StageCost
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import get_logger
from rlhf_recipes.common.parsing import parse
from rlhf_recipes.evaluation import report as reporting

logger = get_logger(__name__)
FIRST_STAGES = {"sft": sft, "reward": reward}
METHODS = {"ppo": ppo, "rloo": rloo, "grpo": grpo, "dpo": dpo}  # the third stages
DEFAULT_METHODS = ("ppo",)


def chained(stage: str, output_dir: Path, methods: tuple[str, ...]) -> list[str]:
    """Command-line overrides that put every stage under `output_dir` and chain them there."""
    out = {name: str(output_dir / name) for name in (*FIRST_STAGES, *METHODS, "report")}
    return {
        "sft": ["--output_dir", out["sft"]],
        "reward": ["--output_dir", out["reward"], "--model_name_or_path", out["sft"]],
        "ppo": ["--output_dir", out["ppo"], "--sft_model_path", out["sft"], "--reward_model_path", out["reward"]],
        "rloo": ["--output_dir", out["rloo"], "--model_name_or_path", out["sft"], "--reward_model_path", out["reward"]],
        "grpo": ["--output_dir", out["grpo"], "--model_name_or_path", out["sft"], "--reward_model_path", out["reward"]],
        "dpo": ["--output_dir", out["dpo"], "--model_name_or_path", out["sft"]],
        "report": ["--output_dir", out["report"], "--policy", *(out[m] for m in methods), "--reference", out["sft"],
                   "--reward_model", out["reward"]],
    }[stage]  # fmt: skip


def run_pipeline(
    recipes: Path, output_dir: Path | None = None, force: bool = False, seed: int | None = None,
    overrides: dict[str, list[str]] | None = None, methods: tuple[str, ...] = DEFAULT_METHODS,
) -> dict:
    """Run the stages of `recipes`; returns the report.

    `output_dir` moves every stage's output under it; `seed` sets every stage's seed (the report's
    sampling too); `overrides` adds command-line overrides per stage, e.g. {"sft": ["--learning_rate", "1e-3"]};
    `methods` names the third stages to run and compare. Without `output_dir`, the report compares the
    policies the YAMLs' output folders name (report.yaml's `policy` is replaced by them).
    """
    recipes, methods = Path(recipes), tuple(dict.fromkeys(methods))
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise RecipeError(f"methods: {', '.join(unknown) or 'none given'}; choose one or more of {', '.join(METHODS)}.")
    stages = {**FIRST_STAGES, **{m: METHODS[m] for m in methods}}
    missing = [s for s in (*stages, "report") if not (recipes / f"{s}.yaml").exists()]
    if missing:
        raise RecipeError(f"{recipes}: no {', '.join(s + '.yaml' for s in missing)}; this pipeline needs "
                          f"{', '.join(s + '.yaml' for s in (*stages, 'report'))}.")  # fmt: skip
    parsed = {}
    for stage in (*stages, "report"):  # every YAML is checked before the first stage starts
        extra = chained(stage, output_dir, methods) if output_dir else []
        extra += (["--seed", str(seed)] if seed is not None else []) + (overrides or {}).get(stage, [])
        module = stages.get(stage, reporting)
        parsed[stage] = parse(module.make_parser(), ["--config", str(recipes / f"{stage}.yaml"), *extra])
    (report_args,) = parsed["report"]
    if not output_dir:
        report_args.policy = [parsed[m][1].output_dir for m in methods]
    timings_path = Path(report_args.output_dir) / artifacts.TIMINGS_FILE
    timings = artifacts.read_json(timings_path, {})
    for stage, module in stages.items():
        stage_dir = parsed[stage][1].output_dir
        if artifacts.is_complete(stage_dir) and not force:
            logger.info(f"{stage}: complete in {stage_dir}, skipped (force to redo).")
            continue
        logger.info(f"{stage}: running {recipes / (stage + '.yaml')} -> {stage_dir}")
        with StageCost() as cost:
            module.main(*parsed[stage])
        timings |= {f"{stage}_s": cost.seconds, f"{stage}_peak_mb": cost.peak_mb}
        timings_path.parent.mkdir(parents=True, exist_ok=True)
        artifacts.write_json(timings_path, timings)  # kept for a later run that skips this stage
    with StageCost() as cost:
        report = reporting.compare(report_args)
    timings |= {"report_s": cost.seconds}
    timings["total_s"] = round(sum(timings.get(f"{stage}_s") or 0 for stage in (*stages, "report")), 1)
    artifacts.write_json(timings_path, timings)
    report["timings"] = timings
    reporting.write(report, report_args.output_dir)
    return report
