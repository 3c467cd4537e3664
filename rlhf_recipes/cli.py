"""The `rlhf-recipes` command: the quickstart, the pipeline and the tools around the stages.

`rlhf-recipes --help` lists the subcommands; docs/recipes.md has quickstart, pipeline, new and plan, docs/outputs.md
compare and score, docs/human-in-the-loop.md collect and label, docs/launching.md check-config, docs/task.md
build-default."""

import argparse
import sys
from pathlib import Path

from rlhf_recipes.common import files, formats, logs, recipe_folders
from rlhf_recipes.common.errors import RecipeError

logger = logs.get_logger(__name__)


def pipeline(args) -> dict:
    from rlhf_recipes import methods as third_stages
    from rlhf_recipes.pipeline import run_pipeline

    output_dir = Path(args.output_dir) if args.output_dir else None
    recipes = recipe_folders.find(args.recipes)
    methods = tuple(args.methods or third_stages.DEFAULT)
    if args.rounds > 1:
        from rlhf_recipes import rounds

        if output_dir is None:
            raise RecipeError("--rounds needs --output-dir: each round writes its own folder under it.")
        result = rounds.run_rounds(
            recipes, output_dir, args.rounds, args.force, args.seed, methods, logs.verbose(args.verbose)
        )
        print("\n" + rounds.markdown(result))
        print(f"Rounds in {output_dir.resolve() / 'rounds.md'}")
        return result
    report = run_pipeline(
        recipes, output_dir, args.force, args.seed, methods=methods, verbose=logs.verbose(args.verbose)
    )
    print_summary(report)
    return report


def quickstart(args) -> dict:
    """The pipeline on the built-in tiny model and task, under one output folder."""
    args.recipes = recipe_folders.SHIPPED / "quickstart"
    report = pipeline(args)
    print(f"Everything is in {Path(args.output_dir).resolve()} (open report/report.md)")
    return report


def print_summary(report: dict) -> None:
    """The report's table on the terminal: SFT and each policy side by side, then any hacking or no-op warnings."""
    from rlhf_recipes.evaluation import barely_moved, hacking, tables

    first = report["policy_vs_reference"]
    print(f"\nSFT vs RLHF on {first['num_prompts']} held-out prompts x {first['samples_per_prompt']} samples")
    print("\n".join(tables.report_terminal(report)))
    print(f"reward model held-out accuracy: {report['reward_model'].get('eval_accuracy')}")
    judge = (tables.first_judge(report) or {}).get("label")
    for warning in hacking.warnings(report["methods"], judge) + barely_moved.warnings(
        report["methods"], report["thresholds"]
    ):
        print(f"WARNING: {warning}")
    if report.get("timings"):
        print("times: " + ", ".join(f"{k[:-2]} {v:.0f}s" for k, v in report["timings"].items() if k.endswith("_s")))


def new(args) -> None:
    """A copy of a shipped recipe, with its data, to make your own."""
    folder = recipe_folders.copy(args.source, Path(args.folder))
    print(
        f"{args.source} copied to {folder}: edit its YAMLs and data/, then `rlhf-recipes pipeline "
        f"{folder}` (outputs in outputs/{folder.name}/)."
    )


def collect(argv: list[str], verbose: bool) -> None:
    from rlhf_recipes.common.parsing import parse
    from rlhf_recipes.labeling import collect

    parser = collect.make_parser()
    parser.prog = "rlhf-recipes collect"
    (args,) = parse(parser, argv)
    log = Path(args.output).parent / "logs" / "collect.log"
    print(f"collect: {args.num_responses} responses per prompt of {args.prompts} -> {args.output} (log: {log})")
    with logs.to_file(log, verbose):
        sheet = collect.main(args)
    print(f"collect: {len(sheet.rows)} rows in {args.output}")


def label(argv: list[str], verbose: bool) -> None:
    from rlhf_recipes.common.parsing import parse
    from rlhf_recipes.labeling import label

    parser = label.make_parser()
    parser.prog = "rlhf-recipes label SHEET"
    if argv[:1] and not argv[0].startswith("-"):  # the sheet, as the first word
        argv = ["--sheet", argv[0], *argv[1:]]
    (args,) = parse(parser, argv)
    with logs.to_file(Path(args.sheet).parent / "logs" / "label.log", verbose):
        label.main(args)


def compare(argv: list[str], verbose: bool) -> None:
    from rlhf_recipes.common.parsing import parse
    from rlhf_recipes.evaluation import report

    parser = report.make_parser()
    parser.prog = "rlhf-recipes compare"
    (args,) = parse(parser, argv)
    log = Path(args.output_dir) / "logs" / "compare.log"
    print(f"compare: {', '.join(args.policy)} against {args.reference} (log: {log})")
    with logs.to_file(log, verbose):
        result = report.main(args)
    print_summary(result)
    print(f"Report in {Path(args.output_dir).resolve() / 'report.md'}")


def score(args) -> None:
    """Score prompt/response pairs with a reward model and print them, best first per prompt."""
    from accelerate import PartialState

    from rlhf_recipes.common import artifacts
    from rlhf_recipes.common.reward_model import RewardModel

    folder = artifacts.model_folder(args.model, "model")
    if args.file:
        rows = formats.canonical_columns(files.load_rows(args.file))
        if not {"prompt", "response"} <= set(rows.column_names):
            raise RecipeError(f"{args.file}: expected `prompt` and `response` columns, found {rows.column_names}.")
        pairs = list(zip(rows["prompt"], rows["response"]))
    elif args.prompt and args.response:
        pairs = [(args.prompt, response) for response in args.response]
    else:
        raise RecipeError("give --prompt with one or more --response, or --file with prompt/response columns.")
    model = RewardModel(folder, "model", device=PartialState().device)
    scores = model.score([p for p, _ in pairs], [r for _, r in pairs])
    ranked = sorted(zip(pairs, scores), key=lambda item: (item[0][0], -item[1]))
    width = min(60, max(len(r) for (_, r), _ in ranked))
    print(f"{'reward':>8}  {'response':<{width}}  prompt")
    for (prompt, response), value in ranked:
        print(f"{value:>8.3f}  {response[:width]:<{width}}  {prompt}")


def check_config(args) -> None:
    from rlhf_recipes.common.launch import check_accelerate_config

    config = check_accelerate_config(args.config_file)
    print(
        f"{args.config_file}: {config.get('distributed_type', 'NO')}, {config.get('num_processes', 1)} process(es), "
        "can launch on this machine."
    )


def plan(args) -> None:
    """Will the stage a YAML configures fit on a GPU? Its peak memory in parts, the verdict, the changes that fit."""
    from rlhf_recipes.planning import advice

    if args.num_gpus < 1:
        raise RecipeError(f"--num-gpus {args.num_gpus}: give 1 or more.")
    if not Path(args.recipe).is_file():
        raise RecipeError(f"{args.recipe}: no such YAML file; give one stage's YAML, e.g. recipes/quickstart/sft.yaml.")
    print("\n".join(advice.render(advice.plan(args.recipe, args.gpu, args.num_gpus))))


def build_default(args) -> None:
    from rlhf_recipes.quickstart import tiny_model

    if args.ship:
        folder = tiny_model.ship()
    elif args.output_dir:
        folder = tiny_model.build(args.output_dir)
    else:
        folder = tiny_model.resolve(tiny_model.BUILTIN_TINY)
    info = tiny_model.build_info(folder)
    print(
        f"Built-in tiny model and tokenizer in {folder} ({info.get('cpu_capability')} CPU kernels, "
        f"mood coherence {info.get('mood_coherence')})"
    )


def make_parser(list_methods: bool = True) -> argparse.ArgumentParser:
    """The command's parser; `list_methods` describes every method in the pipeline's help (which imports them all,
    and TRL's trainers with them: seconds that `score` and `check-config` need not wait)."""
    from rlhf_recipes import methods as third_stages

    listed = (
        "; ".join(f"{name}: {stage.summary}" for name, stage in third_stages.available().items())
        if (list_methods)
        else "the methods `rlhf-recipes pipeline --help` lists"
    )
    parser = argparse.ArgumentParser(prog="rlhf-recipes", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("quickstart", help="the whole pipeline on the built-in tiny default (CPU, minutes)")
    start.add_argument("--output-dir", default="outputs/quickstart")
    start.add_argument("--force", action="store_true", help="redo stages whose output is complete")
    start.add_argument("--seed", type=int, help="every stage's seed (default: as the YAMLs say)")
    start.set_defaults(func=quickstart, rounds=1)
    run = commands.add_parser("pipeline", help="sft -> reward -> ppo (or other methods) -> report from a recipe folder")
    run.add_argument(
        "recipes",
        help="folder with sft.yaml, reward.yaml, a YAML per method and report.yaml, or the "
        f"name of a shipped one ({', '.join(recipe_folders.shipped())})",
    )
    run.add_argument("--output-dir", help="put every stage's output under this folder (default: as the YAMLs say)")
    run.add_argument("--force", action="store_true", help="redo stages whose output is complete")
    run.add_argument("--seed", type=int, help="every stage's seed (default: as the YAMLs say)")
    run.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="iterated RLHF: after the pipeline, N-1 rounds that rank "
        "the latest policy's samples and train again, as the folder's rounds.yaml says (default 1)",
    )
    run.set_defaults(func=pipeline)
    for command in (start, run):
        command.add_argument(
            "--verbose",
            action="store_true",
            help="print every stage's full log on the console too "
            f"(also {logs.VERBOSE_ENV}=1); it is always in <output dir>/logs/<stage>.log",
        )
        command.add_argument(
            "--methods",
            nargs="+",
            metavar="METHOD",
            help="third stages to run from the same SFT and reward models and compare, one or more "
            f"of {listed} (default: {' '.join(third_stages.DEFAULT)})",
        )
    copy = commands.add_parser("new", help="copy a shipped recipe folder, with its data, to start your own")
    copy.add_argument("folder", help="the new folder (it must not exist)")
    copy.add_argument(
        "--from",
        dest="source",
        default="quickstart",
        help=f"a shipped recipe ({', '.join(recipe_folders.shipped())}) or a recipe folder",
    )
    copy.set_defaults(func=new)
    commands.add_parser("compare", help="SFT vs RLHF report (see `rlhf-recipes compare --help`)", add_help=False)
    commands.add_parser(
        "collect", help="sample K responses per prompt from policies into a ranking sheet", add_help=False
    )
    commands.add_parser(
        "label", help="rank a sheet on a local page (or with --judge) into the reward stage's file", add_help=False
    )
    rate = commands.add_parser("score", help="score prompt/response pairs with a reward model")
    rate.add_argument("model", help="a reward model folder (or the reward stage's output folder)")
    rate.add_argument("--prompt")
    rate.add_argument("--response", action="append", help="repeat to compare several responses to one prompt")
    rate.add_argument("--file", help="a json/jsonl/csv/parquet file with prompt and response columns")
    rate.set_defaults(func=score)
    check = commands.add_parser("check-config", help="check an accelerate config file before launching with it")
    check.add_argument("config_file")
    check.set_defaults(func=check_config)
    fit = commands.add_parser(
        "plan", help="will a stage fit on a GPU? its peak memory from the YAML and the model's config alone"
    )
    fit.add_argument("recipe", help="one stage's YAML (sft.yaml, reward.yaml or ppo.yaml)")
    fit.add_argument("--gpu", default="A100-80", help="T4, L4, A10, A100-40, A100-80, H100, H200 or <N>GB")
    fit.add_argument("--num-gpus", type=int, default=1, help="GPUs the stage runs on (DDP: each holds everything)")
    fit.set_defaults(func=plan)
    build = commands.add_parser(
        "build-default",
        help="build the tiny model and tokenizer (default: show where "
        "builtin:tiny is, building it only if the source changed since the shipped build)",
    )
    build.add_argument("--output-dir", help="build a new one into this folder")
    build.add_argument(
        "--ship",
        action="store_true",
        help="rebuild the build shipped in the package (under "
        "ATEN_CPU_CAPABILITY=default, as `make tiny-model` runs it)",
    )
    build.set_defaults(func=build_default)
    return parser


def main(argv: list[str] | None = None) -> None:
    logs.setup()
    argv = sys.argv[1:] if argv is None else argv
    try:
        dataclass_commands = {"compare": compare, "collect": collect, "label": label}
        if argv[:1] and argv[0] in dataclass_commands:  # their options are dataclass fields, parsed like a stage's
            rest = [word for word in argv[1:] if word != "--verbose"]
            dataclass_commands[argv[0]](rest, logs.verbose(len(rest) < len(argv) - 1))
            return
        args = make_parser(list_methods=argv[:1] in (["pipeline"], ["quickstart"])).parse_args(argv)
        args.func(args)
    except RecipeError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(getattr(err, "exit_code", 2))


if __name__ == "__main__":
    main()
