"""SFT vs RLHF, honestly: sample both policies on held-out prompts and compare them.

    rlhf-recipes compare --policy outputs/quickstart/ppo --reference outputs/quickstart/sft \\
        --reward_model outputs/quickstart/reward --prompts recipes/quickstart/data/prompts_eval.csv

Writes `report.json`, `report.md` and PNG plots to `output_dir`: mean reward of each model, win
rate by the reward model, mean sequence-level KL of the policy to the reference, response lengths,
sample responses side by side, PPO's training curves; on the built-in task also the gold labeler's
scores and win rate, and a flag when the reward rose while the gold score fell (reward hacking).
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from trl import TrlParser

from rlhf_recipes.common import files, formats, models
from rlhf_recipes.common.config import apply_prompt_template, run
from rlhf_recipes.common.logs import get_logger
from rlhf_recipes.evaluation import plots, sampling
from rlhf_recipes.quickstart import task

logger = get_logger(__name__)
HACKING_MARGIN = 0.1  # win rates within 0.5 ± this count as no verdict


@dataclass
class ReportArguments:
    policy: str = field(metadata={"help": "The RLHF policy: the PPO stage's output folder or a full model."})
    reference: str = field(metadata={"help": "The reference policy: the SFT stage's output folder or a full model."})
    reward_model: str = field(metadata={"help": "The reward stage's output folder or a reward model."})
    prompts: str = field(metadata={"help": "Held-out prompts: a file with a `prompt` column (any case), or a dataset."})
    split: str = field(default="test", metadata={"help": "The dataset's split to read (a single file has one)."})
    max_prompts: int | None = field(default=None, metadata={"help": "Use only the first N distinct prompts."})
    prompt_template: str | None = field(
        default=None, metadata={"help": "The stages' `prompt_template`, for models without a chat template."}
    )
    output_dir: str = field(default="outputs/report", metadata={"help": "Where report.json/.md and plots go."})
    samples_per_prompt: int = field(default=sampling.SAMPLES_PER_PROMPT, metadata={"help": "Responses per prompt."})
    max_new_tokens: int = field(default=32, metadata={"help": "Longest response sampled, in tokens."})
    temperature: float = field(default=sampling.TEMPERATURE, metadata={"help": "Sampling temperature."})
    seed: int = field(default=0, metadata={"help": "Sampling seed (the same for both models)."})
    num_examples: int = field(default=12, metadata={"help": "Sample responses shown side by side."})
    timings: str | None = field(default=None, metadata={"help": "JSON file of seconds per stage to include."})


def compare(args: ReportArguments) -> dict:
    """Sample both models on the same prompts and measure; returns the report's JSON."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer


    policy_dir = models.model_folder(args.policy, "policy")
    reference_dir = models.model_folder(args.reference, "reference")
    reward_dir = models.model_folder(args.reward_model, "reward_model")
    models.check_reward_model(reward_dir, "reward_model")
    distinct = formats.to_prompts(files.load_rows(args.prompts, args.split), args.prompts)[: args.max_prompts]
    distinct = [apply_prompt_template(args, p) for p in distinct]
    prompts = [p for p in distinct for _ in range(args.samples_per_prompt)]

    policy, tokenizer = sampling.load_policy(policy_dir)
    reference, _ = sampling.load_policy(reference_dir)
    kwargs = dict(max_new_tokens=args.max_new_tokens, temperature=args.temperature, seed=args.seed)
    samples = {"policy": sampling.sample(policy, tokenizer, prompts, **kwargs),
               "reference": sampling.sample(reference, tokenizer, prompts, **kwargs)}  # fmt: skip
    texts = {name: [s["text"] for s in group] for name, group in samples.items()}
    kl = [p - r for p, r in zip(sampling.sequence_logprobs(policy, samples["policy"], args.temperature),
                                sampling.sequence_logprobs(reference, samples["policy"], args.temperature))]  # fmt: skip

    reward_model = AutoModelForSequenceClassification.from_pretrained(reward_dir).to(policy.device).eval()
    reward_tokenizer = AutoTokenizer.from_pretrained(reward_dir)
    rewards = {name: sampling.reward_scores(reward_model, reward_tokenizer, prompts, texts[name]) for name in texts}
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    figures = {
        "num_prompts": len(distinct),
        "samples_per_prompt": args.samples_per_prompt,
        "reward_mean_policy": mean(rewards["policy"]),
        "reward_mean_reference": mean(rewards["reference"]),
        "reward_delta": mean(rewards["policy"]) - mean(rewards["reference"]),
        "win_rate_reward_model": sampling.win_rate(rewards["policy"], rewards["reference"]),
        "kl_mean": mean(kl),
        "length_mean_policy": mean([len(s["response_ids"]) for s in samples["policy"]]),
        "length_mean_reference": mean([len(s["response_ids"]) for s in samples["reference"]]),
    }
    gold = {}
    if sampling.is_builtin_task(distinct):
        gold = {name: [task.score(p, t) for p, t in zip(prompts, texts[name])] for name in texts}
        summary = {name: sampling.gold_summary(prompts, texts[name]) for name in texts}
        figures |= {
            "gold_mean_policy": mean(gold["policy"]),
            "gold_mean_reference": mean(gold["reference"]),
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
    report = {
        "policy": policy_dir,
        "reference": reference_dir,
        "reward_model": {"path": reward_dir, **_reward_eval(args.reward_model)},
        "policy_vs_reference": figures,
        "examples": examples,
        "timings": json.loads(Path(args.timings).read_text()) if args.timings and Path(args.timings).exists() else {},
    }
    write(report, rewards, Path(args.output_dir), args.policy)
    return report


def is_reward_hacking(reward_win_rate: float, gold_win_rate: float) -> bool:
    """The reward model clearly prefers the policy while the gold labeler clearly prefers the reference.

    "Clearly" means a win rate beyond 0.5 ± HACKING_MARGIN: a policy that barely moved (both near
    0.5) is sampling noise, not hacking.
    """
    return reward_win_rate > 0.5 + HACKING_MARGIN and gold_win_rate < 0.5 - HACKING_MARGIN


def _reward_eval(reward_arg: str) -> dict:
    """The reward stage's held-out figures, when `reward_arg` is its output folder."""
    from rlhf_recipes.reward import EVAL_FILE

    path = Path(reward_arg) / EVAL_FILE
    return json.loads(path.read_text()) if path.exists() else {"eval_accuracy": None}


def write(report: dict, rewards: dict, output_dir: Path, policy_arg: str) -> None:
    """report.json, report.md and the plots."""
    output_dir.mkdir(parents=True, exist_ok=True)
    models.write_json(output_dir / "report.json", report)
    plots.plot_distributions(
        {"SFT (reference)": rewards["reference"], "PPO (policy)": rewards["policy"]},
        output_dir / "reward_distributions.png", "Reward on held-out prompts", "reward model score",
    )  # fmt: skip
    state = Path(policy_arg) / "trainer_state.json"
    curves = None
    if state.exists():
        from rlhf_recipes.ppo import PPO_CURVES

        history = json.loads(state.read_text())["log_history"]
        curves = plots.plot_curves(history, PPO_CURVES, output_dir / "ppo_training.png", "PPO training")
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
        lines.append(f"- Win rate of the policy, judged by the gold labeler: {f['gold_win_rate']:.1%} (ties count half)")
    if report["timings"]:
        lines.append("- Times: " + ", ".join(f"{k.removesuffix('_s')} {v:.0f}s" for k, v in report["timings"].items()))
    lines += ["", "![reward distributions](reward_distributions.png)", ""]
    if has_curves:
        lines += ["![PPO training](ppo_training.png)", ""]
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
    return compare(args)


def make_parser() -> TrlParser:
    return TrlParser((ReportArguments,))


if __name__ == "__main__":
    run(main, make_parser)
