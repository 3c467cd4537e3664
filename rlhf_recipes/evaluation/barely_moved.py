"""A run that did nothing: a third stage whose policy barely moved from SFT, judged by the report (KL, identical
samples) and by each stage's log (KL alone), with the usual causes (docs/outputs.md, "A run that did nothing")."""

from dataclasses import dataclass

from rlhf_recipes.common.logs import get_logger

logger = get_logger(__name__)
# nats per response: an unmoved policy has exactly 0; every healthy quickstart run ended at 0.77 or more
# (bench/METHODS.json), so this is 15 times below the lowest
MIN_KL = 0.05
MAX_IDENTICAL_SHARE = 0.5


@dataclass(frozen=True)
class Thresholds:
    """Below this KL, with more than this share of samples identical to SFT's, a policy barely moved."""

    min_kl: float
    max_identical_share: float


@dataclass(frozen=True)
class Knobs:
    """A method's options behind the usual causes, as the user writes them."""

    kl: str
    length: str
    reward_model: bool = True  # it optimizes a reward model, so `normalize_reward` applies


STEPS = "too few steps: raise `max_steps`"
KNOBS = {
    "ppo": Knobs("`kl_coef`", "too few episodes: raise `total_episodes`"),
    "rloo": Knobs("`beta`", STEPS),
    "grpo": Knobs("`beta`", STEPS),
    "dpo": Knobs("`beta`", STEPS, reward_model=False),
}
ANY_METHOD = Knobs(
    "(`kl_coef` for PPO, `beta` for RLOO/GRPO/DPO)", "too few episodes or steps: raise `total_episodes` or `max_steps`"
)


def identical_share(texts: list[str], reference_texts: list[str]) -> float:
    """Share of samples identical to the reference's sample for the same prompt and index."""
    return sum(a == b for a, b in zip(texts, reference_texts, strict=True)) / len(texts)


def from_figures(figures: dict, limits: Thresholds) -> bool:
    """The policy's KL to the reference is near 0 and most of its samples are the reference's own."""
    return abs(figures["kl_mean"]) < limits.min_kl and figures["identical_to_reference"] > limits.max_identical_share


def causes(method: str) -> str:
    """The usual causes of an unmoved policy, most likely first, with the options of `method` to change."""
    knobs = KNOBS.get(method, ANY_METHOD)
    scale = " for the reward's scale" if knobs.reward_model else ""
    found = [
        f"the KL coefficient {knobs.kl} too high{scale}: lower it",
        "the learning rate too low: raise `learning_rate`",
    ]
    if knobs.reward_model:
        found.append(
            "a reward model not standardized, so the reward is small next to the KL: set `normalize_reward: true`"
        )
    found.append(knobs.length)
    return "Likely causes, most likely first: " + "; ".join(f"({i}) {c}" for i, c in enumerate(found, 1)) + "."


def warnings(methods: dict, limits: dict) -> list[str]:
    """The report's warnings for the policies ({name: figures}) that barely moved; `limits`: the report's thresholds."""
    return [
        f"Barely moved ({name}): KL to SFT {figures['kl_mean']:.3f} nats (below {limits['min_kl']:g}) and "
        f"{figures['identical_to_reference']:.0%} of its samples identical to SFT's (above "
        f"{limits['max_identical_share']:.0%}): this RLHF stage left the SFT model as it was. {causes(name)}"
        for name, figures in methods.items()
        if figures.get("barely_moved")
    ]


def logged_kl(entry: dict, beta: float | None = None) -> tuple[str, float] | None:
    """(what, value) of one trainer log entry: how far the policy is from the reference in nats per response, or
    None."""
    if "objective/kl" in entry:  # PPO: summed over the response's tokens already
        return "KL to the SFT model (objective/kl)", entry["objective/kl"]
    if "kl" in entry and "completions/mean_length" in entry:  # RLOO, GRPO: a mean per token
        return "KL to the SFT model (kl x completions/mean_length)", entry["kl"] * entry["completions/mean_length"]
    if beta and "rewards/chosen" in entry and "rewards/rejected" in entry:
        # DPO logs beta * log(policy/reference) of the pair's responses: its distance from SFT on the data, not on
        # its own samples, but 0 exactly when the policy is the reference and in the same nats per response
        size = (abs(entry["rewards/chosen"]) + abs(entry["rewards/rejected"])) / (2 * beta)
        return "log-ratio to the SFT model on its pairs ((|rewards/chosen| + |rewards/rejected|) / 2 beta)", size
    return None


def check_stage(stage: str, log_history: list[dict], beta: float | None = None) -> str | None:
    """Warn, and return the warning, when the stage's logged KL to SFT (`logged_kl`) stayed below MIN_KL at the end
    of training; `beta`: DPO's."""
    logged = [found for entry in log_history if (found := logged_kl(entry, beta))]
    if not logged:  # nothing to judge by (e.g. RLOO or GRPO with beta 0 log no KL)
        return None
    last = logged[len(logged) // 2 :]  # the KL starts at 0 by construction: judge the second half of training
    kl = sum(value for _, value in last) / len(last)
    if abs(kl) >= MIN_KL:
        return None
    message = (
        f"{stage.upper()} barely moved the policy: its {last[0][0]}, the mean of the last {len(last)} of "
        f"{len(logged)} logged steps, is {kl:.3f} nats per response, below {MIN_KL:g}. "
        f"Judged from this figure alone; the report checks the samples too. {causes(stage)}"
    )
    logger.warning(message)
    return message
