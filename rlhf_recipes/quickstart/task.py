"""The built-in task: short upbeat reviews, judged by a programmatic gold labeler.

A prompt asks about a topic ("Write a review of the pizza."). A well-formed response names the
topic and gives one to three distinct adjectives ("The pizza was great, lovely and superb.").
The gold labeler plays the human rater, who likes upbeat reviews:

* a malformed response scores -1: wrong or missing topic (off-topic), a repeated adjective,
  more than three adjectives (rambling), an unknown word, or no closing period (never ends);
* a well-formed one scores the sum of its adjectives' values (+1 positive, 0 neutral,
  -1 negative) divided by three, so it lies in [-1, 1].

Demonstrations come from a mediocre demonstrator (positive words only 40% of the time), so SFT
learns the format and PPO has room to improve the content. The rankings show the labelers some
flawed drafts (rambling, never ending, cut short) but no off-topic or repetitive ones, so a reward
model learned from them can be fooled by repetition ("great, great and great") or a wrong topic;
the gold labeler is not, which is what makes reward hacking visible.
"""

import random
import re
from collections import Counter
from dataclasses import dataclass

TOPICS = (
    "pizza", "movie", "hotel", "phone", "book", "concert", "garden", "laptop",
    "coffee", "museum", "train", "beach", "game", "song", "bakery", "camera",
    "park", "jacket", "salad", "bike", "show", "lake", "class", "cafe",
    "market", "festival", "library", "kitchen", "ferry", "island", "podcast", "theater",
)  # fmt: skip
ADJECTIVES = {
    "positive": ("great", "lovely", "superb", "wonderful", "excellent", "pleasant", "charming", "brilliant"),
    "negative": ("awful", "dull", "terrible", "poor", "boring", "dreadful", "bland", "messy"),
    "neutral": ("okay", "average", "ordinary", "fine", "plain", "typical"),
}
PROMPT_TEMPLATES = (
    "Write a review of the {topic}.",
    "Describe the {topic}.",
    "What did you think of the {topic}?",
    "Give your opinion about the {topic}.",
    "How was the {topic}?",
    "Tell me about the {topic}.",
)
HELD_OUT_PER_TOPIC = 2
MAX_ADJECTIVES = 3
MALFORMED_SCORE = -1.0
RANKING_K = 4
DEMONSTRATOR_WEIGHTS = (0.4, 0.3, 0.3)  # (positive, neutral, negative): room for RLHF to improve
VALUE = {"positive": 1, "neutral": 0, "negative": -1}
# The labelers ranked drafts that ramble, never end or stop short ("The pizza."); they never saw off-topic or
# repetitive ones, so a reward model trained on their rankings has no reason to punish those: the gold labeler does.
# Without cut-short drafts a truncated review ("The.") was the reward model's favourite, and PPO found it. (With
# repetitive drafts too, the tiny reward model could not learn to spot them and lost accuracy: bench/QUALITY.md.)
RANKING_FLAWS = ("rambling", "never ends", "cut short")

_KIND_OF = {word: kind for kind, words in ADJECTIVES.items() for word in words}
_PROMPT_PATTERNS = [re.compile("^" + re.escape(t).replace(r"\{topic\}", r"(?P<topic>\w+)") + "$") for t in PROMPT_TEMPLATES]
_RESPONSE_PATTERN = re.compile(r"^The (?P<topic>\w+) was (?P<body>[^.]*)\.$")


@dataclass(frozen=True)
class Judgement:
    """The gold labeler's verdict on one response."""

    score: float
    well_formed: bool
    reason: str


def parse_prompt(prompt: str) -> str:
    """The topic of a prompt of the built-in task; ValueError if it is not one."""
    for pattern in _PROMPT_PATTERNS:
        match = pattern.match(prompt.strip())
        if match and match["topic"] in TOPICS:
            return match["topic"]
    raise ValueError(f"not a prompt of the built-in task: {prompt!r}")


def split_prompts() -> tuple[list[str], list[str]]:
    """All prompts split into (train, held_out); each topic holds out two phrasings, in rotation.

    The lists are disjoint, and every topic and every phrasing still appears in training.
    """
    train, held_out = [], []
    for i, topic in enumerate(TOPICS):
        held = {(i * HELD_OUT_PER_TOPIC + j) % len(PROMPT_TEMPLATES) for j in range(HELD_OUT_PER_TOPIC)}
        for t, template in enumerate(PROMPT_TEMPLATES):
            (held_out if t in held else train).append(template.format(topic=topic))
    return train, held_out


def judge(prompt: str, response: str) -> Judgement:
    """Score a response to a prompt of the built-in task as the simulated human rater would."""
    topic = parse_prompt(prompt)
    text = response.strip()
    match = _RESPONSE_PATTERN.match(text)
    if match is None:
        return Judgement(MALFORMED_SCORE, False, "never ends" if text and not text.endswith(".") else "not a review")
    if match["topic"] != topic:
        return Judgement(MALFORMED_SCORE, False, "off-topic")
    words = re.split(r", | and ", match["body"])
    if any(word not in _KIND_OF for word in words):
        return Judgement(MALFORMED_SCORE, False, "unknown word")
    if len(set(words)) < len(words):
        return Judgement(MALFORMED_SCORE, False, "repetition")
    if len(words) > MAX_ADJECTIVES:
        return Judgement(MALFORMED_SCORE, False, "rambling")
    return Judgement(sum(VALUE[_KIND_OF[w]] for w in words) / MAX_ADJECTIVES, True, "ok")


def score(prompt: str, response: str) -> float:
    """The gold score of a response, in [-1, 1]."""
    return judge(prompt, response).score


def is_task_prompt(prompt) -> bool:
    """Whether `prompt` belongs to the built-in task (so the gold labeler can judge its responses)."""
    try:
        parse_prompt(prompt)
    except (ValueError, AttributeError):
        return False
    return True


def gold_summary(prompts: list[str], responses: list[str]) -> dict:
    """Each response's gold score, their mean, the share of well-formed responses and the reasons for the rest."""
    judgements = [judge(p, r) for p, r in zip(prompts, responses)]
    return {
        "scores": [j.score for j in judgements],
        "num_responses": len(prompts),
        "gold_mean": sum(j.score for j in judgements) / len(judgements),
        "well_formed_rate": sum(j.well_formed for j in judgements) / len(judgements),
        "verdicts": dict(Counter(j.reason for j in judgements)),
    }


def format_review(topic: str, words: list[str]) -> str:
    if len(words) == 1:
        return f"The {topic} was {words[0]}."
    return f"The {topic} was {', '.join(words[:-1])} and {words[-1]}."


def demonstrate(prompt: str, rng: random.Random, weights: tuple = DEMONSTRATOR_WEIGHTS) -> str:
    """A well-formed response whose words are (positive, neutral, negative) with `weights`."""
    topic = parse_prompt(prompt)
    words: list[str] = []
    for _ in range(rng.randint(1, MAX_ADJECTIVES)):
        kind = rng.choices(("positive", "neutral", "negative"), weights=weights)[0]
        words.append(rng.choice([w for w in ADJECTIVES[kind] if w not in words]))
    return format_review(topic, words)


def flawed(prompt: str, flaw: str, rng: random.Random) -> str:
    """A response with one flaw the gold labeler rejects, built from positive words a word counter would like."""
    topic = parse_prompt(prompt)
    good = rng.sample(ADJECTIVES["positive"], MAX_ADJECTIVES + 1)
    if flaw == "repetition":
        return format_review(topic, [good[0]] * rng.randint(2, MAX_ADJECTIVES))
    if flaw == "rambling":
        return format_review(topic, good)
    if flaw == "off-topic":
        return format_review(rng.choice([t for t in TOPICS if t != topic]), good[:2])
    if flaw == "cut short":  # "The.", "The pizza." or "The pizza was."
        return " ".join(format_review(topic, good[:1]).split()[: rng.randint(1, 3)]) + "."
    return format_review(topic, good[:2])[:-1] + " and " + good[2]


def ranked_responses(prompt: str, k: int, rng: random.Random) -> list[str]:
    """K responses to one prompt with distinct gold scores, ordered best to worst."""
    by_score: dict[float, str] = {}
    while len(by_score) < k:
        flawed_draft = rng.random() < 0.15
        response = flawed(prompt, rng.choice(RANKING_FLAWS), rng) if flawed_draft else demonstrate(prompt, rng)
        by_score.setdefault(score(prompt, response), response)
    return [by_score[s] for s in sorted(by_score, reverse=True)]


def sft_rows(prompts: list[str], n: int, seed: int) -> list[dict]:
    """`n` prompt/response demonstrations drawn over `prompts`."""
    rng = random.Random(seed)
    return [{"prompt": p, "response": demonstrate(p, rng)} for p in (rng.choice(prompts) for _ in range(n))]


def ranking_rows(prompts: list[str], n: int, k: int, seed: int) -> list[dict]:
    """`n` K-way rankings (best first) over `prompts`."""
    rng = random.Random(seed)
    return [{"prompt": p, "responses": ranked_responses(p, k, rng)} for p in (rng.choice(prompts) for _ in range(n))]


def write_data(folder) -> None:
    """Write the quickstart's data files: SFT demonstrations, K-way rankings, train and held-out prompts."""
    import csv
    import json
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    train, held_out = split_prompts()
    with open(folder / "sft.jsonl", "w") as f:
        f.writelines(json.dumps(row) + "\n" for row in sft_rows(train, 3000, seed=1))
    with open(folder / "rankings.csv", "w", newline="") as f:
        writer = csv.writer(f, delimiter="|")
        writer.writerow(["Prompt"] + [f"Rank {i + 1} response" for i in range(RANKING_K)])
        writer.writerows([row["prompt"], *row["responses"]] for row in ranking_rows(train, 1500, RANKING_K, seed=2))
    for name, prompts in (("prompts_train.csv", train), ("prompts_eval.csv", held_out)):
        with open(folder / name, "w", newline="") as f:
            csv.writer(f).writerows([["Prompt"]] + [[p] for p in prompts])
