"""The `rlhf-recipes` command: the quickstart and the tools around the stages.

    rlhf-recipes quickstart [--output-dir outputs/quickstart]
    rlhf-recipes build-default [--output-dir DIR]
"""

import argparse
import csv
import json
import logging
import sys
import time
from pathlib import Path

from rlhf_recipes.errors import RecipeError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = PROJECT_ROOT / "recipes" / "quickstart"


def read_prompts(path: str | Path) -> list[str]:
    """Prompts from a CSV file with a `Prompt` (or `prompt`) column."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    column = next((c for c in ("Prompt", "prompt") if rows and c in rows[0]), None)
    if column is None:
        raise RecipeError(f"{path}: expected a CSV with a `Prompt` column and at least one row.")
    return [row[column] for row in rows]


def run_stage(stage: str, recipes: Path, output_dir: Path, data_file: str) -> Path:
    """Run one stage from `recipes/<stage>.yaml`, writing to `output_dir/<stage>`."""
    import importlib

    from rlhf_recipes.config import parse

    module = importlib.import_module(f"rlhf_recipes.{stage}")
    args = ["--config", str(recipes / f"{stage}.yaml"), "--output_dir", str(output_dir / stage)]
    args += ["--dataset_name", str(recipes / "data" / data_file)]
    if stage != "sft":
        args += ["--model_name_or_path", str(output_dir / "sft")]
    module.main(*parse(module.make_parser(), args))
    return output_dir / stage


def quickstart(args) -> None:
    """Build the tiny default, run the stages on the built-in task and judge the result."""
    from rlhf_recipes import evaluation, models, tiny_model

    output_dir = Path(args.output_dir)
    timings = {}
    start = time.perf_counter()
    base = tiny_model.resolve(tiny_model.BUILTIN_TINY)
    timings["build_default_s"] = time.perf_counter() - start
    for stage, data_file in (("sft", "sft.jsonl"), ("reward", "rankings.csv")):
        start = time.perf_counter()
        run_stage(stage, args.recipes, output_dir, data_file)
        timings[f"{stage}_s"] = time.perf_counter() - start

    prompts = read_prompts(args.recipes / "data" / "prompts_eval.csv") * evaluation.SAMPLES_PER_PROMPT
    summary = {}
    for name, folder in (("untrained", base), ("sft", output_dir / "sft" / models.MERGED_DIR)):
        model, tokenizer = evaluation.load_policy(str(folder))
        summary[name] = evaluation.gold_summary(prompts, evaluation.generate(model, tokenizer, prompts))
    models.write_json(output_dir / "sft" / "gold_eval.json", {**summary, "timings": timings})
    reward = json.loads((output_dir / "reward" / "eval_results.json").read_text())

    print(f"\nHeld-out prompts: {len(prompts) // evaluation.SAMPLES_PER_PROMPT}, "
          f"{evaluation.SAMPLES_PER_PROMPT} samples each at temperature {evaluation.TEMPERATURE}")
    print(f"{'model':<10} {'well-formed':>12} {'gold mean':>10}")
    for name, row in summary.items():
        print(f"{name:<10} {row['well_formed_rate']:>12.1%} {row['gold_mean']:>10.3f}")
    print(f"\nReward model: held-out pairwise accuracy {reward['eval_accuracy']:.3f} "
          f"on {reward['num_eval_pairs']} pairs, mean margin {reward['eval_margin']:.2f}")
    print("Times: " + ", ".join(f"{k[:-2]} {v:.0f}s" for k, v in timings.items()))
    print(f"Results in {output_dir.resolve()}")


def build_default(args) -> None:
    from rlhf_recipes import tiny_model

    folder = tiny_model.build(args.output_dir) if args.output_dir else tiny_model.resolve(tiny_model.BUILTIN_TINY)
    print(f"Built-in tiny model and tokenizer in {folder}")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlhf-recipes", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("quickstart", help="run the pipeline on the built-in tiny default (CPU, minutes)")
    start.add_argument("--output-dir", default="outputs/quickstart")
    start.add_argument("--recipes", type=Path, default=QUICKSTART, help="folder with the quickstart YAMLs and data")
    start.set_defaults(func=quickstart)
    build = commands.add_parser("build-default", help="build the tiny model and tokenizer (cached)")
    build.add_argument("--output-dir", help="where to save it (default: the cache used by builtin:tiny)")
    build.set_defaults(func=build_default)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    args = make_parser().parse_args(argv)
    try:
        args.func(args)
    except RecipeError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
