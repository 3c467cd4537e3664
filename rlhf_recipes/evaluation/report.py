"""SFT vs RLHF, honestly: sample the reference and each policy on the same held-out prompts and measure them side by
side (`rlhf-recipes compare`; written by `report_writing`). What it measures: docs/outputs.md, "The report"."""

from dataclasses import dataclass, field
from pathlib import Path

from accelerate import PartialState

from rlhf_recipes.common import artifacts, files, formats, ptx
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import get_logger
from rlhf_recipes.common.parsing import RecipeParser, run
from rlhf_recipes.common.reward_model import RewardModel
from rlhf_recipes.evaluation import barely_moved, hacking, judges, report_writing, sampling
from rlhf_recipes.evaluation.tables import REFERENCE

logger = get_logger(__name__)


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
        default=barely_moved.MIN_KL,
        metadata={
            "help": "No-op warning: a policy barely moved when its mean KL to the reference "
            "is below this many nats and more than max_identical_share of its samples are "
            "SFT's. Healthy quickstart policies are at 0.77-1.5 nats; an unmoved one at 0."
        },
    )
    max_identical_share: float = field(
        default=barely_moved.MAX_IDENTICAL_SHARE,
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

    def barely_moved_thresholds(self) -> barely_moved.Thresholds:
        return barely_moved.Thresholds(self.min_kl, self.max_identical_share)


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
    reward = RewardModel(reward_dir, "reward_model", device=PartialState().device)
    distinct = formats.to_prompts(files.load_rows(args.prompts, args.split), args.prompts)[: args.max_prompts]
    prompts = [p for p in distinct for _ in range(args.samples_per_prompt)]
    judging = judges.load(args.judge, distinct, PartialState().device)

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
            _against_reference(measured[name], measured[REFERENCE], kl, args, judging)
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
        "thresholds": vars(args.thresholds()) | vars(args.barely_moved_thresholds()),
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


def _against_reference(policy: dict, reference: dict, kl: list[float], args: ReportArguments, judging: list) -> dict:
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
    figures["identical_to_reference"] = barely_moved.identical_share(policy["texts"], reference["texts"])
    figures["barely_moved"] = barely_moved.from_figures(figures, args.barely_moved_thresholds())
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


def main(args: ReportArguments) -> dict:
    """Compare, write the report to `args.output_dir`, and return it."""
    report = compare(args)
    report_writing.write(report, args.output_dir)
    return report


def make_parser() -> RecipeParser:
    return RecipeParser((ReportArguments,))


if __name__ == "__main__":
    run(main, make_parser)
