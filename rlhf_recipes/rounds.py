"""Iterated RLHF (`rlhf-recipes pipeline FOLDER --rounds N`): round 1 is the pipeline; each later round collects and
labels the latest policy's samples and trains the reward and third stages again, as `rounds.yaml` says
(`RoundsArguments`; docs/human-in-the-loop.md, "Rounds on the built-in task")."""

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from accelerate import PartialState

from rlhf_recipes import methods as third_stages
from rlhf_recipes.common import artifacts, files, formats, logs
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import get_logger
from rlhf_recipes.common.parsing import RecipeParser, parse
from rlhf_recipes.common.reward_model import RewardModel
from rlhf_recipes.common.stages import REWARD, SFT
from rlhf_recipes.evaluation import report as reporting
from rlhf_recipes.evaluation import report_writing, tables
from rlhf_recipes.evaluation.tables import Figure
from rlhf_recipes.labeling import collect, label
from rlhf_recipes.labeling import sheet as sheets
from rlhf_recipes.pipeline import FIRST_STAGES, REPORT, run_pipeline

logger = get_logger(__name__)
ROUNDS_FILE = "rounds.yaml"
POLICY_STARTS, REWARD_STARTS = ("sft", "last"), ("fresh", "continue")
VS_PREVIOUS = "report_vs_previous"


@dataclass
class RoundsArguments:
    """How each round after the first collects, labels and trains."""

    prompts: str = field(metadata={"help": "Prompts to collect rankings on (the policy's training prompts)."})
    probe_prompts: str = field(
        metadata={
            "help": "Held-out prompts whose policy-sample rankings measure the reward models (the report's prompts)."
        }
    )
    judge: str = field(default="gold", metadata={"help": "Who ranks: a registered judge or reward:PATH."})
    num_responses: int = field(default=4, metadata={"help": "Responses per ranking (K)."})
    rows_per_prompt: int = field(default=8, metadata={"help": "New rankings per training prompt and round."})
    probe_rows_per_prompt: int = field(default=2, metadata={"help": "Held-out rankings per probe prompt."})
    policy_start: str = field(
        default="sft",
        metadata={
            "help": "Each round's policy starts from the SFT model (sft) or the last policy (last)",
            "choices": list(POLICY_STARTS),
        },
    )
    reward_start: str = field(
        default="fresh",
        metadata={
            "help": "Each round's reward model starts from the SFT model (fresh) or the last reward model (continue)",
            "choices": list(REWARD_STARTS),
        },
    )
    method_overrides: list[str] = field(
        default_factory=list,
        metadata={"help": "Command-line overrides of the third stage's YAML in later rounds, e.g. [--kl_coef, '0.1']"},
    )

    def __post_init__(self):
        problems = [
            f"{name}: expected one of {allowed}, got {value!r}."
            for name, value, allowed in (
                ("policy_start", self.policy_start, POLICY_STARTS),
                ("reward_start", self.reward_start, REWARD_STARTS),
            )
            if value not in allowed
        ]
        if problems:
            raise ValueError(" ".join(problems))


def run_rounds(
    recipes: Path,
    output_dir: Path,
    rounds: int,
    force: bool = False,
    seed: int | None = None,
    methods: tuple[str, ...] = third_stages.DEFAULT,
    verbose: bool = False,
) -> dict:
    """Run the pipeline, then `rounds - 1` more rounds with the first of `methods`; returns the rounds' summary.
    Each step's full log is under its round's `logs/` (`verbose`: on the console too)."""
    recipes, output_dir = Path(recipes), Path(output_dir)
    if not (recipes / ROUNDS_FILE).exists():
        raise RecipeError(f"{recipes}: no {ROUNDS_FILE}; --rounds needs one (see recipes/quickstart/{ROUNDS_FILE}).")
    (args,) = parse(RecipeParser((RoundsArguments,)), ["--config", str(recipes / ROUNDS_FILE)])
    method, base_seed = methods[0], 42 if seed is None else seed
    reports = {1: run_pipeline(recipes, output_dir, force, seed, methods=methods, verbose=verbose)}
    rankings = [_recipe_rankings(recipes)]
    folders = {1: {SFT: output_dir / SFT, REWARD: output_dir / REWARD, method: output_dir / method}}
    summary = {1: _round_figures(reports[1], method, None, None, reports[1].get("timings", {}))}
    for r in range(2, rounds + 1):
        here, last = output_dir / f"round{r}", folders[r - 1]
        started = time.monotonic()
        print(f"round {r}: {args.judge} ranks {last[method]}'s samples -> {here} (log: {here}/logs/collect.log)")
        with logs.to_file(here / "logs" / "collect.log", verbose):
            sheet = _labelled(
                args, last[method], args.prompts, here / "sheet.jsonl", args.rows_per_prompt, base_seed + r
            )
            probe = _labelled(
                args,
                last[method],
                args.probe_prompts,
                here / "probe.jsonl",
                args.probe_rows_per_prompt,
                base_seed + 100 + r,
            )
        rankings.append(str(sheet.rankings_path))
        data = _combine(rankings, here / "preferences.jsonl")
        gathered = time.monotonic() - started
        stage = third_stages.get(method)
        overrides = {REWARD: ["--dataset_name", data]} | (
            {method: ["--dataset_name", data]} if REWARD not in stage.reads else {}
        )
        if args.reward_start == "continue":
            overrides[REWARD] += ["--model_name_or_path", str(last[REWARD])]
        overrides.setdefault(method, []).extend(args.method_overrides)
        if args.policy_start == "last":
            overrides[method] += [stage.reads[SFT], str(last[method])]
        reports[r] = run_pipeline(
            recipes, here, force, seed, overrides, (method,), reuse={SFT: folders[1][SFT]}, verbose=verbose
        )
        folders[r] = {SFT: folders[1][SFT], REWARD: here / REWARD, method: here / method}
        print(f"round {r}: {method} against round {r - 1}'s -> {here / VS_PREVIOUS}")
        with logs.to_file(here / "logs" / "vs_previous.log", verbose):
            vs_previous = _compare(recipes, here / method, last[method], here / REWARD, here / VS_PREVIOUS, seed)
            probe_pairs = formats.to_preference_pairs(
                files.load_rows(str(probe.rankings_path)), str(probe.rankings_path)
            )
            accuracy = {"new": _accuracy(probe_pairs, here / REWARD), "previous": _accuracy(probe_pairs, last[REWARD])}
        timings = reports[r].get("timings", {}) | {"collect_label_s": round(gathered, 1)}
        summary[r] = _round_figures(reports[r], method, vs_previous, accuracy, timings)
    result = {"method": method, "settings": vars(args), "rounds": summary}
    artifacts.write_json(output_dir / "rounds.json", result)
    (output_dir / "rounds.md").write_text(markdown(result))
    return result


def _labelled(
    args: RoundsArguments, policy: Path, prompts: str, path: Path, rows_per_prompt: int, seed: int
) -> sheets.Sheet:
    """A sheet of `policy`'s samples on `prompts`, ranked by the judge (a finished one is reused)."""
    sheet = (
        sheets.load(path)
        if path.exists()
        else collect.main(
            collect.CollectArguments(
                policy=[str(policy)],
                prompts=prompts,
                output=str(path),
                num_responses=args.num_responses,
                rows_per_prompt=rows_per_prompt,
                seed=seed,
            )
        )
    )
    label.rank_with_judge(sheet, args.judge)
    sheets.export(sheet)
    return sheet


def _recipe_rankings(recipes: Path) -> str:
    """The dataset the recipe's reward stage reads."""
    parsed = parse(FIRST_STAGES[REWARD].make_parser(), ["--config", str(recipes / f"{REWARD}.yaml")])
    return parsed[0].dataset_name


def _combine(sources: list[str], path: Path) -> str:
    """Every source's preference pairs in one prompt/chosen/rejected file (written whole, then moved into place)."""
    pairs = [pair for source in sources for pair in formats.to_preference_pairs(files.load_rows(source), source)]
    partial = path.with_name(path.name + ".partial")
    partial.write_text("".join(json.dumps(pair) + "\n" for pair in pairs))
    partial.replace(path)
    logger.info(f"rounds: {len(pairs)} preference pairs from {len(sources)} ranking files in {path}")
    return str(path)


def _accuracy(pairs, reward_dir: Path) -> float:
    """The reward model's pairwise accuracy on the probe's ranked pairs (ties left out)."""
    model = RewardModel(artifacts.model_folder(str(reward_dir), "reward_model"), device=PartialState().device)
    chosen = model.score(pairs["prompt"], pairs["chosen"])
    rejected = model.score(pairs["prompt"], pairs["rejected"])
    return sum(c > r for c, r in zip(chosen, rejected)) / len(chosen)


def _compare(recipes: Path, policy: Path, reference: Path, reward_dir: Path, output_dir: Path, seed) -> dict:
    """The round's policy against the round before's, on the report's prompts and settings."""
    extra = [
        "--policy",
        str(policy),
        "--reference",
        str(reference),
        "--reward_model",
        str(reward_dir),
        "--output_dir",
        str(output_dir),
        *(["--seed", str(seed)] if seed is not None else []),
    ]
    (args,) = parse(reporting.make_parser(), ["--config", str(recipes / f"{REPORT}.yaml"), *extra])
    report = reporting.compare(args)
    report_writing.write(report, output_dir)
    return report["policy_vs_reference"]


def _round_figures(report: dict, method: str, vs_previous: dict | None, accuracy: dict | None, timings: dict) -> dict:
    figures = report["methods"][method]
    return {
        "gold_win_vs_sft": figures.get("gold_win_rate"),
        "gold_win_vs_previous": (vs_previous or {}).get("gold_win_rate"),
        "gold_mean": figures.get("gold_mean_policy"),
        "reward_model_accuracy": report["reward_model"].get("eval_accuracy"),
        "probe_accuracy": (accuracy or {}).get("new"),
        "probe_accuracy_previous_reward_model": (accuracy or {}).get("previous"),
        "repeated_word_rate": figures.get("repeated_word_rate_policy"),
        "repeated_word_rate_sft": figures.get("repeated_word_rate_reference"),
        "kl_mean": figures.get("kl_mean"),
        "stage_s": round(sum(v for k, v in timings.items() if k.endswith("_s") and k != "total_s" and v), 1),
    }


COLUMNS = (
    Figure("gold_win_vs_sft", "gold win vs SFT", "{:.1%}"),
    Figure("gold_win_vs_previous", "gold win vs previous round", "{:.1%}"),
    Figure("gold_mean", "gold mean", "{:+.3f}"),
    Figure("probe_accuracy", "RM accuracy on held-out policy samples (previous RM)", "{:.3f}"),
    Figure("repeated_word_rate", "repeats a word (SFT)", "{:.1%}"),
    Figure("kl_mean", "KL to SFT", "{:.2f}"),
    Figure("stage_s", "stage time", "{:.0f} s"),
)
# A figure shown with another in brackets: the previous reward model's accuracy, SFT's repetition.
BRACKETED = {"probe_accuracy": "probe_accuracy_previous_reward_model", "repeated_word_rate": "repeated_word_rate_sft"}


def _cell(figures: dict, column: Figure) -> str:
    text, bracketed = column.cell(figures.get(column.key)), BRACKETED.get(column.key)
    if bracketed and figures.get(bracketed) is not None:
        text += f" ({column.cell(figures[bracketed])})"
    return text


def markdown(result: dict) -> str:
    """The rounds as a table, one row per round."""
    rows = [[r, *(_cell(figures, column) for column in COLUMNS)] for r, figures in result["rounds"].items()]
    table = tables.markdown(["round", *(column.label for column in COLUMNS)], rows)
    return "\n".join([f"# Iterated RLHF ({result['method']})", "", *table]) + "\n"
