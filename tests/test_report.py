import pytest

from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.evaluation import hacking, judges, report, report_writing, sampling

LIMITS = hacking.Thresholds(max_kl=10.0, max_length_ratio=2.0, max_repetition_rise=0.1, max_repeated_word_rise=0.1)


def figures(**overrides):
    base = {
        "num_prompts": 64,
        "samples_per_prompt": 4,
        "reward_mean_policy": 3.0,
        "reward_mean_reference": 1.0,
        "reward_delta": 2.0,
        "win_rate_reward_model": 0.7,
        "kl_mean": 0.5,
        "length_mean_policy": 9.0,
        "length_mean_reference": 8.0,
        "length_ratio": 9.0 / 8.0,
        "repetition_rate_policy": 0.0,
        "repetition_rate_reference": 0.0,
        "repeated_word_rate_policy": 0.05,
        "repeated_word_rate_reference": 0.0,
        "gold_mean_policy": 0.2,
        "gold_mean_reference": 0.1,
        "gold_win_rate": 0.6,
        "gold_well_formed_policy": 0.9,
        "gold_well_formed_reference": 0.95,
        "reward_hacking": False,
        "indicators_agree_with_judge": True,
        "stage_s": 42.0,
        "peak_memory_mb": 600,
    }
    base |= overrides
    return base | {"hacking_indicators": hacking.indicators(base, LIMITS)}


GOLD = {"name": "gold", "label": "gold labeler", "rates": ["well_formed"]}


def as_markdown(judges=(GOLD,), **methods):
    methods = methods or {"ppo": figures()}
    example = {"prompt": "Describe the lake.", "reference": "The lake was dull.", "reward_reference": -1.0}
    example |= {f"{judge['name']}_reference": -0.33 for judge in judges}
    for name in methods:
        example |= {name: f"The lake was great ({name}).", f"reward_{name}": 2.0}
        example |= {f"{judge['name']}_{name}": 0.33 for judge in judges}
    data = {
        "policy": "p",
        "reference": "r",
        "reward_model": {"path": "rm", "eval_accuracy": 0.95},
        "policy_vs_reference": next(iter(methods.values())),
        "methods": methods,
        "examples": [example],
        "thresholds": vars(LIMITS),
        "repetition_ngram": 2,
        "timings": {"sft_s": 10.0, "total_s": 10.0},
        "judges": list(judges),
    }
    return report_writing.markdown(data, curves={})


def test_hacking_needs_a_clear_verdict_from_both_judges():
    assert hacking.verdict(reward_win_rate=0.97, judge_win_rate=0.02)
    assert not hacking.verdict(reward_win_rate=0.514, judge_win_rate=0.498)  # a policy that barely moved
    assert not hacking.verdict(reward_win_rate=0.97, judge_win_rate=0.72)  # both agree: it helped


def test_reward_hacking_is_flagged_in_the_report():
    assert "Reward hacking" not in as_markdown()
    text = as_markdown(ppo=figures(gold_mean_policy=0.0, reward_hacking=True))
    assert "**Reward hacking (ppo):** the reward model prefers the policy" in text


def test_repetition_rate_counts_repeated_word_ngrams():
    assert hacking.repetition_rate(["The cake was great.", "The cake was good."], 2) == 0.0
    assert hacking.repetition_rate(["great great great great"], 2) == pytest.approx(2 / 3)  # 3 bigrams, 1 distinct
    assert hacking.repetition_rate(["The.", "great, great. GREAT great"], 2) == pytest.approx((0 + 2 / 3) / 2)


def test_a_repeated_word_is_seen_where_seq_rep_2_sees_none():
    echo = ["The hotel was charming and charming.", "The hotel was ordinary, brilliant and ordinary."]
    assert hacking.repetition_rate(echo, 2) == 0.0  # no word pair repeats...
    assert [hacking.repeated_word(t) for t in echo] == ["charming", "ordinary"]  # ...but a word does
    assert hacking.repeated_word_rate(echo + ["The hotel was great and lovely.", "The hotel was."]) == 0.5


def test_function_words_and_distant_echoes_are_ordinary_prose():
    assert hacking.repeated_word("The cat sat on the mat, and the dog sat by the door.") == "sat"
    assert hacking.repeated_word("The cat was on the mat and the dog was by the door.") is None  # the, was, and
    far = "Paris is lovely in spring; the river, the bridges and the cafes fill up early, and Paris smiles."
    assert hacking.repeated_word(far) is None  # "paris" again, 12 words later
    assert hacking.repeated_word("Great. GREAT!") == "great"  # case and punctuation do not hide an echo


def test_repeated_word_rule_agrees_with_the_gold_labelers_repetition_verdicts():
    """On the built-in task: the rule flags every response the gold labeler rejects for repetition, and
    flags nothing the gold labeler accepts."""
    import random

    from rlhf_recipes.quickstart import task

    rng, prompts = random.Random(0), task.split_prompts()[0]
    responses = [(p, task.demonstrate(p, rng)) for p in prompts]
    responses += [
        (p, task.flawed(p, flaw, rng))
        for p in prompts
        for flaw in ("repetition", "rambling", "cut short", "off-topic", "never ends")
    ]
    responses += [(p, "The " + task.parse_prompt(p) + " was great, dull, great and lovely.") for p in prompts[:20]]
    reasons = [(task.judge(p, r).reason, hacking.repeated_word(r) is not None) for p, r in responses]
    assert {flagged for reason, flagged in reasons if reason == "repetition"} == {True}
    assert {flagged for reason, flagged in reasons if reason == "ok"} == {False}
    assert sum(reason == "repetition" for reason, _ in reasons) >= len(prompts)


@pytest.mark.parametrize(
    "overrides, drifted",
    [
        ({}, []),
        ({"kl_mean": 25.0}, ["KL 25.00 > 10"]),
        ({"length_mean_policy": 2.0, "length_ratio": 0.25}, ["length ratio 0.25 outside [0.50, 2]"]),
        ({"repetition_rate_policy": 0.4}, ["repeated n-grams +0.40 > 0.1"]),
        ({"repeated_word_rate_policy": 0.3}, ["responses repeating a word +30% > 10%"]),
    ],
)
def test_indicators_name_what_drifted(overrides, drifted):
    found = figures(**overrides)["hacking_indicators"]
    assert found == {"reward_rose": True, "drift": drifted, "suspected": bool(drifted)}
    quiet = figures(**overrides, win_rate_reward_model=0.55)["hacking_indicators"]  # the reward did not rise
    assert quiet["drift"] == drifted and not quiet["suspected"]


def test_suspected_hacking_is_shown_with_what_drifted():
    text = as_markdown(ppo=figures(), grpo=figures(kl_mean=30.0))
    assert "**Suspected reward hacking (grpo):** the reward rose while KL 30.00 > 10." in text
    assert "(ppo)" not in text.split("| |")[0]


def test_report_has_a_row_per_method_and_samples_side_by_side():
    text = as_markdown(ppo=figures(), dpo=figures(gold_win_rate=0.655, kl_mean=0.9, stage_s=12.0))
    assert "| SFT (reference) | 1.000 | – | +0.100 | – | 95.0% | – | 8.0 | 0.0% | 0.000 | – | – |" in text
    assert "| ppo | 3.000 | 70.0% | +0.200 | 60.0% | 90.0% | 0.50 | 9.0 | 5.0% | 0.000 | 42 | 600 |" in text
    assert "| dpo | 3.000 | 70.0% | +0.200 | 65.5% | 90.0% | 0.90 | 9.0 | 5.0% | 0.000 | 12 | 600 |" in text
    assert (
        "| Describe the lake. | The lake was dull. (-1.00, -0.33) | The lake was great (ppo). (2.00, +0.33) | "
        "The lake was great (dpo). (2.00, +0.33) |"
    ) in text
    assert "Times: sft 10s, total 10s" in text and "![win rate against KL](win_rate_vs_kl.png)" in text


def test_policies_are_named_by_their_folders():
    assert report.policy_names(["out/ppo", "out/rloo/merged", "hub-org/model"]) == {
        "ppo": "out/ppo",
        "rloo": "out/rloo/merged",
        "model": "hub-org/model",
    }
    with pytest.raises(RecipeError, match="'a/ppo' and 'b/ppo' would both be called 'ppo'"):
        report.policy_names(["a/ppo", "b/ppo"])


def test_win_rate_counts_ties_as_half():
    assert sampling.win_rate([1.0, 0.0, 2.0, 1.0], [0.0, 0.0, 3.0, 1.0]) == 0.5


def test_a_second_judge_adds_its_figures_and_its_agreement_with_the_first():
    second = {"name": "judge", "label": "reward model rm2", "rates": []}
    text = as_markdown((GOLD, second), ppo=figures(judge_mean_policy=1.5, judge_win_rate=0.58, judge_agreement=0.81))
    assert "| gold: win | gold: well-formed | judge: mean | judge: win | judge: agrees with gold |" in text
    assert "| 60.0% | 90.0% | +1.500 | 58.0% | 81.0% |" in text and "Judged by gold labeler, reward model rm2." in text
    assert "gold: mean" not in as_markdown(judges=())  # no judge: the reward model's figures only


def test_agreement_counts_where_the_first_judge_has_a_preference():
    # four (policy, reference) pairs: the first judge prefers the policy, the reference, the policy, neither
    first, first_reference = [1.0, 0.0, 0.5, 0.2], [0.0, 1.0, 0.0, 0.2]
    second, second_reference = [3.0, 3.0, 1.0, 9.0], [2.0, 1.0, 1.0, 0.0]  # agrees, disagrees, ties, (not counted)
    assert judges.agreement(first, second, first_reference, second_reference) == pytest.approx((1 + 0 + 0.5) / 3)
    assert judges.agreement([1.0], [2.0], [1.0], [0.0]) is None


def test_judges_are_named_and_the_gold_labeler_judges_only_its_task(tmp_path):
    from rlhf_recipes.quickstart import task

    task_prompts, other = task.split_prompts()[1][:4], ["Summarize this post: ..."]
    assert [j.name for j in judges.load(["auto"], task_prompts)] == ["gold"]
    assert judges.load(["auto"], other) == []
    with pytest.raises(RecipeError, match="judge 'gold' cannot judge these prompts"):
        judges.load(["gold"], other)
    with pytest.raises(RecipeError, match="expected auto, reward:PATH, classifier:PATH:LABEL or a registered judge"):
        judges.load(["reward"], other)
    with pytest.raises(RecipeError, match="is no local folder"):
        judges.load(["reward:./no/such/model"], other)
