"""How a report is written: report.json, report.md and its plots, from what `report.compare` measured
(docs/outputs.md, "The report")."""

import shutil
from pathlib import Path

from rlhf_recipes.common import artifacts
from rlhf_recipes.common.logs import get_logger
from rlhf_recipes.evaluation import barely_moved, hacking, plots, tables

logger = get_logger(__name__)
TRADEOFF_PLOT = "win_rate_vs_kl.png"


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
    methods, judge = report["methods"], tables.first_judge(report)
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
    methods, f, judge = report["methods"], report["policy_vs_reference"], tables.first_judge(report)
    accuracy = report["reward_model"].get("eval_accuracy")
    lines = [
        "# SFT vs RLHF",
        "",
        f"{len(methods)} polic{'y' if len(methods) == 1 else 'ies'} against reference `{report['reference']}` on "
        f"{f['num_prompts']} held-out prompts, {f['samples_per_prompt']} samples each. Reward model "
        f"`{report['reward_model']['path']}` (held-out pairwise accuracy "
        f"{'n/a' if accuracy is None else f'{accuracy:.3f}'}). Judged by "
        f"{', '.join(j['label'] for j in report.get('judges', [])) or 'no judge but the reward model'}.",
        "",
    ]
    warnings = hacking.warnings(methods, judge and judge["label"]) + barely_moved.warnings(
        methods, report["thresholds"]
    )
    lines += [line for warning in warnings for line in (f"> **{warning.replace(': ', ':** ', 1)}", "")]
    lines += tables.report_markdown(report)
    lines += ["", _what_the_figures_mean(report["repetition_ngram"]), ""]
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
    return "\n".join(lines + _samples(report)) + "\n"


def _what_the_figures_mean(ngram: int) -> str:
    """The paragraph under the methods table: what each figure counts."""
    return (
        "Per policy: win rates against SFT's responses to the same prompts (ties count half), mean "
        "sequence-level KL(policy ‖ SFT) in nats, length in tokens, the share of responses that repeat "
        f"a word (a word other than a function word, again within {hacking.REPEAT_WINDOW} words), the "
        f"repeated word n-gram rate (n = {ngram}); with held-out plain text, the "
        "language-model loss on it (nats per token) and the alignment tax (the policy's minus SFT's); stage time and "
        "peak memory as the pipeline measured them. A later judge's agreement: how often it prefers the same "
        "response of a (policy, SFT) pair as the first judge, where the first has a preference."
    )


def _samples(report: dict) -> list[str]:
    """The samples section: each example prompt, SFT's and each policy's response with their scores."""
    methods, judged = report["methods"], [j["name"] for j in report.get("judges", [])]
    names = [tables.REFERENCE, *methods]
    rows = [
        [e["prompt"] or "(empty)", *(f"{e[n] or '(empty)'} ({_scores(e, n, judged)})" for n in names)]
        for e in report["examples"]
    ]
    intro = ["## Samples", "", f"In brackets: {', '.join(['reward', *judged])}.", ""]
    return intro + tables.markdown(["prompt", "SFT (reference)", *methods], rows)


def _scores(example: dict, model: str, judged: list[str]) -> str:
    return ", ".join([f"{example[f'reward_{model}']:.2f}", *(f"{example[f'{j}_{model}']:+.2f}" for j in judged)])
