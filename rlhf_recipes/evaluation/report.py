"""SFT vs RLHF, honestly: sample the reference and one or more policies on held-out prompts and compare them.

    rlhf-recipes compare --policy outputs/quickstart/ppo [outputs/quickstart/rloo ...] \\
        --reference outputs/quickstart/sft --reward_model outputs/quickstart/reward \\
        --prompts recipes/quickstart/data/prompts_eval.csv

Each policy is named by its folder (`ppo`, `rloo`, ...). Writes `report.json`, `report.md` and PNG
plots to `output_dir`. Per policy, against the reference: mean reward and win rate by the reward
model, mean sequence-level KL to the reference, response lengths, the share of responses that
repeat a word and the repeated n-gram rate (`hacking` says how each is counted), the hacking
indicators (`hacking`), its stage's wall time and peak memory when the pipeline measured them, and
its training curves; and each judge's scores and win rate (`judges`: on the built-in task the gold
labeler; `--judge reward:PATH` a reward model not optimized against), the first judge's verdict on
reward hacking, and the later judges' agreement with it. Given held-out `plain_text`, each model's
language-model loss on it, and the alignment tax: how much higher the policy's is than SFT's. A plot puts every policy's win rate (the
first judge's, else the reward model's) against its KL.
"""

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from rlhf_recipes.common import artifacts, files, formats, ptx
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import get_logger
from rlhf_recipes.common.parsing import RecipeParser, run
from rlhf_recipes.common.reward_model import RewardModel
from rlhf_recipes.evaluation import figures as table
from rlhf_recipes.evaluation import hacking, judges, noop, plots, sampling

logger = get_logger(__name__)
REFERENCE = "reference"
TRADEOFF_PLOT = "win_rate_vs_kl.png"


@dataclass
class ReportArguments:
    """What to compare and how; prompts are shown to each model in the format it was trained with."""

    policy: list[str] = field(
        metadata={
            "help": "The RLHF policy, or several to compare: stage output folders (each "
            "named by its folder: ppo, rloo, ...) or full models."
        }
    )
    reference: str = field(metadata={"help": "The reference policy: the SFT stage's output folder or a full model."})
    reward_model: str = field(metadata={"help": "The reward stage's output folder or a reward model."})
    prompts: str = field(metadata={"help": "Held-out prompts: a file with a `prompt` column (any case), or a dataset."})
    split: str = field(default="test", metadata={"help": "The dataset's split to read (a single file has one)."})
    max_prompts: int | None = field(default=None, metadata={"help": "Use only the first N distinct prompts."})
    output_dir: str = field(default="outputs/report", metadata={"help": "Where report.json/.md and plots go."})
    samples_per_prompt: int = field(default=sampling.SAMPLES_PER_PROMPT, metadata={"help": "Responses per prompt."})
    max_new_tokens: int | None = field(
        default=None,
        metadata={
            "help": "Longest response sampled, in tokens. Default: as the first policy that saved "
            "its sampling settings sampled in training (PPO, RLOO, GRPO), else 32."
        },
    )
    temperature: float | None = field(
        default=None, metadata={"help": "Sampling temperature. Default: as the max_new_tokens default, else 0.7."}
    )
    seed: int = field(default=0, metadata={"help": "Sampling seed (the same for every model)."})
    plain_text: str | None = field(
        default=None,
        metadata={
            "help": "Held-out plain text (an SFT-format file or dataset, e.g. a `text` column): "
            "each model's language-model loss on it, and the alignment tax (the policy's loss "
            "minus SFT's, nats per token). Default: not measured."
        },
    )
    plain_text_split: str = field(default="train", metadata={"help": "The split of `plain_text` to read."})
    judge: list[str] = field(
        default_factory=lambda: [judges.AUTO],
        metadata={
            "help": "Who judges the responses besides the optimized reward model, one or more of: auto (the "
            "registered judges that can judge these prompts: the gold labeler on the built-in task), "
            "reward:PATH (a reward model not optimized against), classifier:PATH:LABEL, a registered name. "
            "The first one's verdict decides reward_hacking."
        },
    )
    num_examples: int = field(default=12, metadata={"help": "Sample responses shown side by side."})
    repetition_ngram: int = field(default=2, metadata={"help": "n of the repeated n-gram rate (word n-grams)."})
    max_kl: float = field(
        default=10.0,
        metadata={
            "help": "Hacking indicator: a mean KL to the reference above this many nats while the "
            "reward rose. Healthy quickstart runs stay near 1; hacked ones went past 10."
        },
    )
    max_length_ratio: float = field(
        default=2.0,
        metadata={
            "help": "Hacking indicator: the policy's mean response length over the reference's "
            "above this, or below its inverse, while the reward rose."
        },
    )
    max_repetition_rise: float = field(
        default=0.1,
        metadata={
            "help": "Hacking indicator: the repeated n-gram rate above the reference's by more "
            "than this, while the reward rose."
        },
    )
    max_repeated_word_rise: float = field(
        default=0.25,
        metadata={
            "help": "Hacking indicator: the share of responses that repeat a word above the "
            "reference's by more than this, while the reward rose. Healthy quickstart PPO runs "
            "rise by about 0.1 (the reward model's blind spot: bench/QUALITY.md)."
        },
    )
    min_kl: float = field(
        default=noop.MIN_KL,
        metadata={
            "help": "No-op warning: a policy barely moved when its mean KL to the reference "
            "is below this many nats and more than max_identical_share of its samples are "
            "SFT's. Healthy quickstart policies are at 0.77-1.5 nats; an unmoved one at 0."
        },
    )
    max_identical_share: float = field(
        default=noop.MAX_IDENTICAL_SHARE,
        metadata={
            "help": "No-op warning: the share of samples identical to the "
            "reference's (same prompt, same seed) above which, with a KL "
            "below min_kl, a policy barely moved."
        },
    )

    def __post_init__(self):
        if isinstance(self.policy, str):  # one path from a YAML
            self.policy = [self.policy]
        if isinstance(self.judge, str):
            self.judge = [self.judge]

    def thresholds(self) -> hacking.Thresholds:
        return hacking.Thresholds(
            self.max_kl, self.max_length_ratio, self.max_repetition_rise, self.max_repeated_word_rise
        )

    def noop_thresholds(self) -> noop.Thresholds:
        return noop.Thresholds(self.min_kl, self.max_identical_share)


def policy_names(paths: list[str]) -> dict[str, str]:
    """{name: path} of the policies: each named by its folder (the stage's output folder, not its `merged/`)."""
    named = {}
    for path in paths:
        folder = Path(path)
        name = folder.parent.name if folder.name == artifacts.MERGED_DIR else folder.name
        if name in named or name == REFERENCE:
            raise RecipeError(
                f"policy: {named.get(name, REFERENCE)!r} and {path!r} would both be called {name!r} in "
                "the report; policies are named by their folder, so give them folders of their own."
            )
        named[name] = path
    return named


def compare(args: ReportArguments) -> dict:
    """Sample the reference and every policy on the same prompts and measure; returns the report (nothing written)."""
    named = policy_names(args.policy)
    policy_dirs = {name: artifacts.model_folder(path, "policy") for name, path in named.items()}
    reference_dir = artifacts.model_folder(args.reference, "reference")
    reward_dir = artifacts.model_folder(args.reward_model, "reward_model")
    reward = RewardModel(reward_dir, "reward_model", device=sampling.device())
    distinct = formats.to_prompts(files.load_rows(args.prompts, args.split), args.prompts)[: args.max_prompts]
    prompts = [p for p in distinct for _ in range(args.samples_per_prompt)]
    judging = judges.load(args.judge, distinct, sampling.device())

    kwargs = sampling.settings(list(policy_dirs.values()), args.max_new_tokens, args.temperature) | {"seed": args.seed}
    reference = sampling.load_policy(reference_dir)
    measured = {REFERENCE: _measure(sampling.sample(*reference, prompts, **kwargs), prompts, reward, judging, args)}
    lm_loss = {REFERENCE: _plain_text_loss(reference, args)}
    costs = artifacts.read_json(Path(args.output_dir) / artifacts.TIMINGS_FILE, {})
    methods = {}
    for name, policy_dir in policy_dirs.items():
        logger.info(f"report: sampling and scoring {name} ({policy_dir}) on {len(prompts)} prompts")
        policy = sampling.load_policy(policy_dir)
        samples = sampling.sample(*policy, prompts, **kwargs)
        logprobs = [
            sampling.sequence_logprobs(model, samples, kwargs["temperature"]) for model in (policy[0], reference[0])
        ]
        kl = [p - r for p, r in zip(*logprobs)]  # both models score the policy's samples
        measured[name] = _measure(samples, prompts, reward, judging, args)
        lm_loss[name] = _plain_text_loss(policy, args)
        methods[name] = (
            _figures(measured[name], measured[REFERENCE], kl, args, judging)
            | _tax(lm_loss, name)
            | {
                "policy": policy_dir,
                "max_new_tokens": kwargs["max_new_tokens"],
                "temperature": kwargs["temperature"],
                "stage_s": costs.get(f"{name}_s"),
                "peak_memory_mb": costs.get(f"{name}_peak_mb"),
            }
        )

    examples = [
        {"prompt": prompts[i]}
        | {
            f"{key}{name}": m[column][i]
            for name, m in measured.items()
            for key, column in (("", "texts"), ("reward_", "rewards"))
        }
        | {
            f"{judge.name}_{name}": m["judged"][judge.name].scores[i]
            for name, m in measured.items()
            for judge in judging
        }
        for i in range(0, min(len(prompts), args.num_examples * args.samples_per_prompt), args.samples_per_prompt)
    ]
    first = next(iter(methods))
    return {
        "policy": policy_dirs[first],
        "reference": reference_dir,
        "reward_model": {
            "path": reward_dir,
            **artifacts.read_json(Path(args.reward_model) / artifacts.EVAL_FILE, {"eval_accuracy": None}),
        },
        "policy_vs_reference": methods[first],
        "methods": methods,
        "judges": [
            {"name": j.name, "label": j.label, "rates": list(measured[REFERENCE]["judged"][j.name].rates)}
            for j in judging
        ],
        "thresholds": vars(args.thresholds()) | vars(args.noop_thresholds()),
        "repetition_ngram": args.repetition_ngram,
        "examples": examples,
        "reward_scores": {name: m["rewards"] for name, m in measured.items()},
        "policy_output_dirs": named,  # each holds the training curves its stage plotted
        "timings": {},
    }


def _measure(samples: list[dict], prompts: list, reward: RewardModel, judging: list, args: ReportArguments) -> dict:
    """One model's samples, scored: texts, rewards, lengths, repetition, and each judge's view."""
    texts = [s["text"] for s in samples]
    return {
        "texts": texts,
        "rewards": reward.score(prompts, texts, [s["finished"] for s in samples]),
        "lengths": [len(s["response_ids"]) for s in samples],
        "repetition": hacking.repetition_rate(texts, args.repetition_ngram),
        "repeated_words": hacking.repeated_word_rate(texts),
        "judged": {judge.name: judge.judge(prompts, texts) for judge in judging},
    }


def _plain_text_loss(model: tuple, args: ReportArguments) -> float | None:
    """A (model, tokenizer, prompt format)'s language-model loss on `args.plain_text`, or None without it."""
    if args.plain_text is None:
        return None
    model, tokenizer, prompt_format = model
    texts = ptx.load_texts(
        args.plain_text, args.plain_text_split, prompt_format, tokenizer, min(tokenizer.model_max_length, 1024)
    )
    return ptx.mean_lm_loss(model, texts, tokenizer.pad_token_id)


def _tax(lm_loss: dict, name: str) -> dict:
    """The LM-loss figures of policy `name`: its loss, SFT's, and the difference (the alignment tax)."""
    if lm_loss[name] is None:
        return {}
    return {
        "lm_loss_policy": lm_loss[name],
        "lm_loss_reference": lm_loss[REFERENCE],
        "alignment_tax": lm_loss[name] - lm_loss[REFERENCE],
    }


def _figures(policy: dict, reference: dict, kl: list[float], args: ReportArguments, judging: list) -> dict:
    """A policy against the reference: the figures of `policy_vs_reference`."""
    figures = {
        "num_prompts": len(policy["texts"]) // args.samples_per_prompt,
        "samples_per_prompt": args.samples_per_prompt,
        "reward_mean_policy": _mean(policy["rewards"]),
        "reward_mean_reference": _mean(reference["rewards"]),
        "reward_delta": _mean(policy["rewards"]) - _mean(reference["rewards"]),
        "win_rate_reward_model": sampling.win_rate(policy["rewards"], reference["rewards"]),
        "kl_mean": _mean(kl),
        "length_mean_policy": _mean(policy["lengths"]),
        "length_mean_reference": _mean(reference["lengths"]),
        "length_ratio": _mean(policy["lengths"]) / max(_mean(reference["lengths"]), 1e-9),
        "repetition_rate_policy": policy["repetition"],
        "repetition_rate_reference": reference["repetition"],
        "repeated_word_rate_policy": policy["repeated_words"],
        "repeated_word_rate_reference": reference["repeated_words"],
    }
    figures["hacking_indicators"] = hacking.indicators(figures, args.thresholds())
    figures["identical_to_reference"] = noop.identical_share(policy["texts"], reference["texts"])
    figures["barely_moved"] = noop.barely_moved(figures, args.noop_thresholds())
    for judge in judging:
        ours, theirs, name = policy["judged"][judge.name], reference["judged"][judge.name], judge.name
        figures |= {
            f"{name}_mean_policy": _mean(ours.scores),
            f"{name}_mean_reference": _mean(theirs.scores),
            f"{name}_win_rate": sampling.win_rate(ours.scores, theirs.scores),
        }
        figures |= {
            f"{name}_{key}_{side}": value
            for side, judged in (("policy", ours), ("reference", theirs))
            for key, value in (judged.rates | judged.details).items()
        }
        if judge is not judging[0]:
            first = judging[0].name
            figures[f"{name}_agreement"] = judges.agreement(
                policy["judged"][first].scores, ours.scores, reference["judged"][first].scores, theirs.scores
            )
    if judging:
        first = judging[0].name
        figures["reward_hacking"] = hacking.verdict(figures["win_rate_reward_model"], figures[f"{first}_win_rate"])
        figures["indicators_agree_with_judge"] = figures["hacking_indicators"]["suspected"] == figures["reward_hacking"]
    return figures


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def write(report: dict, output_dir: str | Path) -> None:
    """report.json, report.md and the plots, written once."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    artifacts.write_json(output_dir / "report.json", report)
    plots.plot_distributions(
        report["reward_scores"],
        output_dir / "reward_distributions.png",
        "Reward on held-out prompts",
        "reward model score",
    )
    methods, judge = report["methods"], table.first_judge(report)
    key = f"{judge['name']}_win_rate" if judge else "win_rate_reward_model"
    plots.plot_tradeoff(
        {name: (f["kl_mean"], f[key]) for name, f in methods.items()},
        output_dir / TRADEOFF_PLOT,
        f"win rate against SFT ({judge['label'] if judge else 'reward model'})",
    )
    curves = {}
    for name, folder in report["policy_output_dirs"].items():  # each stage plotted its curves where it wrote
        folder = Path(folder).parent if Path(folder).name == artifacts.MERGED_DIR else Path(folder)
        for plot in sorted(folder.glob("*_training.png"))[:1]:
            curves[name] = shutil.copyfile(plot, output_dir / f"{name}_training.png").name
    (output_dir / "report.md").write_text(markdown(report, curves))
    logger.info(f"Report written to {output_dir / 'report.md'}")


def markdown(report: dict, curves: dict[str, str]) -> str:
    """report.md: the methods table, the hacking verdicts and indicators, plots and samples side by side."""
    methods, f, judge = report["methods"], report["policy_vs_reference"], table.first_judge(report)
    lines = [
        "# SFT vs RLHF",
        "",
        f"{len(methods)} polic{'y' if len(methods) == 1 else 'ies'} against reference `{report['reference']}` on "
        f"{f['num_prompts']} held-out prompts, {f['samples_per_prompt']} samples each. Reward model "
        f"`{report['reward_model']['path']}` (held-out pairwise accuracy "
        f"{_fmt(report['reward_model'].get('eval_accuracy'))}). Judged by "
        f"{', '.join(j['label'] for j in report.get('judges', [])) or 'no judge but the reward model'}.",
        "",
    ]
    warnings = hacking.warnings(methods, judge and judge["label"]) + noop.warnings(methods, report["thresholds"])
    lines += [line for warning in warnings for line in (f"> **{warning.replace(': ', ':** ', 1)}", "")]
    lines += table.markdown(report)
    lines += [
        "",
        "Per policy: win rates against SFT's responses to the same prompts (ties count half), mean "
        "sequence-level KL(policy ‖ SFT) in nats, length in tokens, the share of responses that repeat "
        f"a word (a word other than a function word, again within {hacking.REPEAT_WINDOW} words), the "
        f"repeated word n-gram rate (n = {report['repetition_ngram']}); with held-out plain text, the "
        "language-model loss on it (nats per token) and the alignment tax (the policy's minus SFT's); stage time and peak memory as the "
        "pipeline measured them. A later judge's agreement: how often it prefers the same response of a "
        "(policy, SFT) pair as the first judge, where the first has a preference.",
        "",
    ]
    if judge:
        agree = sum(m["indicators_agree_with_judge"] for m in methods.values())
        lines += [
            f"- Hacking indicators (no judge needed) agree with the {judge['label']}'s verdict on {agree} of "
            f"{len(methods)} policies.",
            "",
        ]
    limits = report["thresholds"]
    lines += [
        f"- Hacking is suspected when the reward model's win rate is above {0.5 + hacking.VERDICT_MARGIN:.0%} "
        f"and the KL exceeds {limits['max_kl']:g} nats, the length ratio to SFT leaves "
        f"[{1 / limits['max_length_ratio']:.2f}, {limits['max_length_ratio']:g}], the repeated n-gram rate "
        f"rises by more than {limits['max_repetition_rise']:g}, or the share of responses that repeat a word "
        f"by more than {limits['max_repeated_word_rise']:.0%}."
    ]
    if report["timings"]:
        lines.append(
            "- Times: "
            + ", ".join(f"{k.removesuffix('_s')} {v:.0f}s" for k, v in report["timings"].items() if k.endswith("_s"))
        )
    lines += [
        "",
        f"![win rate against KL]({TRADEOFF_PLOT})",
        "",
        "![reward distributions](reward_distributions.png)",
        "",
    ]
    lines += [f"![{name} training]({file_name})\n" for name, file_name in curves.items()]
    names, judged = [REFERENCE, *methods], [j["name"] for j in report.get("judges", [])]
    lines += [
        "## Samples",
        "",
        f"In brackets: {', '.join(['reward', *judged])}.",
        "",
        "| prompt | SFT (reference) | " + " | ".join(methods) + " |",
        "| --- |" + " --- |" * len(names),
    ]
    lines += [
        "| " + _cell(e["prompt"]) + " | " + " | ".join(f"{_cell(e[n])} ({_scores(e, n, judged)})" for n in names) + " |"
        for e in report["examples"]
    ]
    return "\n".join(lines) + "\n"


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _scores(example: dict, model: str, judged: list[str]) -> str:
    return ", ".join([f"{example[f'reward_{model}']:.2f}", *(f"{example[f'{j}_{model}']:+.2f}" for j in judged)])


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or "(empty)"


def main(args: ReportArguments) -> dict:
    """Compare, write the report to `args.output_dir`, and return it."""
    report = compare(args)
    write(report, args.output_dir)
    return report


def make_parser() -> RecipeParser:
    return RecipeParser((ReportArguments,))


if __name__ == "__main__":
    run(main, make_parser)
