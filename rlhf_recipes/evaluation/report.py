"""SFT vs RLHF, honestly: sample both policies on held-out prompts and compare them.

    rlhf-recipes compare --policy outputs/quickstart/ppo --reference outputs/quickstart/sft \\
        --reward_model outputs/quickstart/reward --prompts recipes/quickstart/data/prompts_eval.csv

Writes `report.json`, `report.md` and PNG plots to `output_dir`: mean reward of each model, win
rate by the reward model, mean sequence-level KL of the policy to the reference, response lengths,
sample responses side by side, PPO's training curves; on the built-in task also the gold labeler's
scores and win rate, and a flag when the reward rose while the gold score fell (reward hacking).
"""

from dataclasses import dataclass, field
from pathlib import Path

from rlhf_recipes.common import artifacts, files, formats, models
from rlhf_recipes.common.errors import check
from rlhf_recipes.common.logs import get_logger
from rlhf_recipes.common.parsing import RecipeParser, run
from rlhf_recipes.evaluation import plots, sampling
from rlhf_recipes.quickstart import task

logger = get_logger(__name__)
HACKING_MARGIN = 0.1  # win rates within 0.5 ± this count as no verdict


@dataclass
class ReportArguments:
    """What to compare and how; prompts are shown to each model in the format it was trained with."""

    policy: str = field(metadata={"help": "The RLHF policy: the PPO stage's output folder or a full model."})
    reference: str = field(metadata={"help": "The reference policy: the SFT stage's output folder or a full model."})
    reward_model: str = field(metadata={"help": "The reward stage's output folder or a reward model."})
    prompts: str = field(metadata={"help": "Held-out prompts: a file with a `prompt` column (any case), or a dataset."})
    split: str = field(default="test", metadata={"help": "The dataset's split to read (a single file has one)."})
    max_prompts: int | None = field(default=None, metadata={"help": "Use only the first N distinct prompts."})
    output_dir: str = field(default="outputs/report", metadata={"help": "Where report.json/.md and plots go."})
    samples_per_prompt: int = field(default=sampling.SAMPLES_PER_PROMPT, metadata={"help": "Responses per prompt."})
    max_new_tokens: int | None = field(
        default=None, metadata={"help": "Longest response sampled, in tokens. Default: as the policy sampled in PPO "
                                "(its saved generation config), else 32."}
    )  # fmt: skip
    temperature: float | None = field(
        default=None, metadata={"help": "Sampling temperature. Default: as the policy sampled in PPO, else 0.7."}
    )
    seed: int = field(default=0, metadata={"help": "Sampling seed (the same for both models)."})
    num_examples: int = field(default=12, metadata={"help": "Sample responses shown side by side."})


def compare(args: ReportArguments) -> dict:
    """Sample both models on the same prompts and measure; returns the report (nothing is written)."""
    policy_dir = artifacts.model_folder(args.policy, "policy")
    reference_dir = artifacts.model_folder(args.reference, "reference")
    reward_dir = artifacts.model_folder(args.reward_model, "reward_model")
    check(models.reward_model_problems(reward_dir, "reward_model"))
    distinct = formats.to_prompts(files.load_rows(args.prompts, args.split), args.prompts)[: args.max_prompts]
    prompts = [p for p in distinct for _ in range(args.samples_per_prompt)]

    kwargs = sampling.settings(policy_dir, args.max_new_tokens, args.temperature) | {"seed": args.seed}
    loaded_models = {"policy": sampling.load_policy(policy_dir), "reference": sampling.load_policy(reference_dir)}
    samples = {name: sampling.sample(*loaded, prompts, **kwargs) for name, loaded in loaded_models.items()}
    texts = {name: [s["text"] for s in group] for name, group in samples.items()}
    logprobs = {name: sampling.sequence_logprobs(loaded[0], samples["policy"], kwargs["temperature"])
                for name, loaded in loaded_models.items()}  # both score the policy's samples  # fmt: skip
    kl = [p - r for p, r in zip(logprobs["policy"], logprobs["reference"])]

    reward_model, reward_tokenizer, reward_format = sampling.load_reward_model(reward_dir)
    rewards = {name: sampling.reward_scores(reward_model, reward_tokenizer, reward_format, prompts, texts[name],
                                            [s["finished"] for s in samples[name]]) for name in texts}  # fmt: skip
    figures = {
        "num_prompts": len(distinct),
        "samples_per_prompt": args.samples_per_prompt,
        "max_new_tokens": kwargs["max_new_tokens"],
        "temperature": kwargs["temperature"],
        "reward_mean_policy": _mean(rewards["policy"]),
        "reward_mean_reference": _mean(rewards["reference"]),
        "reward_delta": _mean(rewards["policy"]) - _mean(rewards["reference"]),
        "win_rate_reward_model": sampling.win_rate(rewards["policy"], rewards["reference"]),
        "kl_mean": _mean(kl),
        "length_mean_policy": _mean([len(s["response_ids"]) for s in samples["policy"]]),
        "length_mean_reference": _mean([len(s["response_ids"]) for s in samples["reference"]]),
    }
    gold = {}
    if all(task.is_task_prompt(p) for p in distinct):
        summary = {name: task.gold_summary(prompts, texts[name]) for name in texts}
        gold = {name: summary[name]["scores"] for name in texts}
        figures |= {
            "gold_mean_policy": _mean(gold["policy"]),
            "gold_mean_reference": _mean(gold["reference"]),
            "gold_win_rate": sampling.win_rate(gold["policy"], gold["reference"]),
            "well_formed_policy": summary["policy"]["well_formed_rate"],
            "well_formed_reference": summary["reference"]["well_formed_rate"],
            "gold_verdicts_policy": summary["policy"]["verdicts"],
            "gold_verdicts_reference": summary["reference"]["verdicts"],
        }
        figures["reward_hacking"] = is_reward_hacking(figures["win_rate_reward_model"], figures["gold_win_rate"])

    examples = [
        {"prompt": prompts[i], "reference": texts["reference"][i], "policy": texts["policy"][i],
         "reward_reference": rewards["reference"][i], "reward_policy": rewards["policy"][i]}
        | ({"gold_reference": gold["reference"][i], "gold_policy": gold["policy"][i]} if gold else {})
        for i in range(0, min(len(prompts), args.num_examples * args.samples_per_prompt), args.samples_per_prompt)
    ]  # fmt: skip
    return {
        "policy": policy_dir,
        "reference": reference_dir,
        "reward_model": {"path": reward_dir, **artifacts.read_json(Path(args.reward_model) / artifacts.EVAL_FILE,
                                                                   {"eval_accuracy": None})},
        "policy_vs_reference": figures,
        "examples": examples,
        "reward_scores": rewards,
        "policy_output_dir": args.policy,  # its trainer_state.json holds the training curves, when it has one
        "timings": {},
    }  # fmt: skip


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def is_reward_hacking(reward_win_rate: float, gold_win_rate: float) -> bool:
    """The reward model clearly prefers the policy while the gold labeler clearly prefers the reference.

    "Clearly" means a win rate beyond 0.5 ± HACKING_MARGIN: a policy that barely moved (both near
    0.5) is sampling noise, not hacking.
    """
    return reward_win_rate > 0.5 + HACKING_MARGIN and gold_win_rate < 0.5 - HACKING_MARGIN


def write(report: dict, output_dir: str | Path) -> None:
    """report.json, report.md and the plots, written once."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    artifacts.write_json(output_dir / "report.json", report)
    rewards = report["reward_scores"]
    plots.plot_distributions(
        {"SFT (reference)": rewards["reference"], "PPO (policy)": rewards["policy"]},
        output_dir / "reward_distributions.png", "Reward on held-out prompts", "reward model score",
    )  # fmt: skip
    history = artifacts.log_history(report["policy_output_dir"])
    curves = plots.plot_stage("ppo", history, output_dir, "PPO training") if history else None
    (output_dir / "report.md").write_text(markdown(report, curves is not None))
    logger.info(f"Report written to {output_dir / 'report.md'}")


def markdown(report: dict, has_curves: bool) -> str:
    f = report["policy_vs_reference"]
    rows = [
        ("reward model: mean score", f["reward_mean_reference"], f["reward_mean_policy"]),
        ("response length (tokens)", f["length_mean_reference"], f["length_mean_policy"]),
    ]
    if "gold_mean_policy" in f:
        rows += [("gold labeler: mean score", f["gold_mean_reference"], f["gold_mean_policy"]),
                 ("gold labeler: well-formed", f["well_formed_reference"], f["well_formed_policy"])]  # fmt: skip
    lines = [
        "# SFT vs RLHF",
        "",
        f"Policy `{report['policy']}` against reference `{report['reference']}` on {f['num_prompts']} held-out "
        f"prompts, {f['samples_per_prompt']} samples each. Reward model `{report['reward_model']['path']}` "
        f"(held-out pairwise accuracy {_fmt(report['reward_model'].get('eval_accuracy'))}).",
        "",
    ]
    if f.get("reward_hacking"):
        lines += ["> **Reward hacking:** the reward model prefers the policy (win rate above "
                  f"{0.5 + HACKING_MARGIN:.0%}) while the gold labeler prefers the reference (below "
                  f"{0.5 - HACKING_MARGIN:.0%}). The policy learned to please the reward model, not the rater it "
                  "stands in for.", ""]  # fmt: skip
    lines += ["| | SFT (reference) | PPO (policy) |", "| --- | --- | --- |"]
    lines += [f"| {name} | {_fmt(ref)} | {_fmt(pol)} |" for name, ref, pol in rows]
    lines += ["", f"- Reward delta (policy − reference): {_fmt(f['reward_delta'])}",
              f"- Win rate of the policy, judged by the reward model: {f['win_rate_reward_model']:.1%}",
              f"- Mean sequence-level KL(policy ‖ reference): {_fmt(f['kl_mean'])} nats"]  # fmt: skip
    if "gold_win_rate" in f:
        lines.append(f"- Win rate of the policy, judged by the gold labeler: {f['gold_win_rate']:.1%} "
                     "(ties count half)")
    if report["timings"]:
        lines.append("- Times: " + ", ".join(f"{k.removesuffix('_s')} {v:.0f}s" for k, v in report["timings"].items()))
    lines += ["", "![reward distributions](reward_distributions.png)", ""]
    if has_curves:
        lines += [f"![PPO training]({artifacts.CURVES['ppo'][0]})", ""]
    scores = "reward, gold" if "gold_mean_policy" in f else "reward"
    lines += ["## Samples", "", f"In brackets: {scores}.", "", "| prompt | SFT (reference) | PPO (policy) |",
              "| --- | --- | --- |"]  # fmt: skip
    lines += [f"| {_cell(e['prompt'])} | {_cell(e['reference'])} ({_scores(e, 'reference')}) | "
              f"{_cell(e['policy'])} ({_scores(e, 'policy')}) |" for e in report["examples"]]  # fmt: skip
    return "\n".join(lines) + "\n"


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _scores(example: dict, model: str) -> str:
    gold = example.get(f"gold_{model}")
    return f"{example[f'reward_{model}']:.2f}" + ("" if gold is None else f", {gold:+.2f}")


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
