from rlhf_recipes.evaluation import report, sampling


def figures(**overrides):
    base = {"num_prompts": 64, "samples_per_prompt": 4, "reward_mean_policy": 3.0, "reward_mean_reference": 1.0,
            "reward_delta": 2.0, "win_rate_reward_model": 0.7, "kl_mean": 0.5, "length_mean_policy": 9.0,
            "length_mean_reference": 8.0, "gold_mean_policy": 0.2, "gold_mean_reference": 0.1, "gold_win_rate": 0.6,
            "well_formed_policy": 0.9, "well_formed_reference": 0.95, "reward_hacking": False}  # fmt: skip
    return base | overrides


def as_markdown(**overrides):
    data = {"policy": "p", "reference": "r", "reward_model": {"path": "rm", "eval_accuracy": 0.95},
            "policy_vs_reference": figures(**overrides), "timings": {"sft_s": 10.0, "total_s": 10.0},
            "examples": [{"prompt": "Describe the lake.", "reference": "The lake was dull.", "policy": "The lake was great.",
                          "reward_reference": -1.0, "reward_policy": 2.0, "gold_reference": -0.33, "gold_policy": 0.33}]}  # fmt: skip
    return report.markdown(data, has_curves=False)


def test_hacking_needs_a_clear_verdict_from_both_judges():
    assert report.is_reward_hacking(reward_win_rate=0.97, gold_win_rate=0.02)
    assert not report.is_reward_hacking(reward_win_rate=0.514, gold_win_rate=0.498)  # a policy that barely moved
    assert not report.is_reward_hacking(reward_win_rate=0.97, gold_win_rate=0.72)  # both agree: it helped


def test_reward_hacking_is_flagged_in_the_report():
    assert "Reward hacking" not in as_markdown()
    text = as_markdown(gold_mean_policy=0.0, reward_hacking=True)
    assert "**Reward hacking:** the reward model prefers the policy" in text


def test_report_shows_figures_and_samples_side_by_side():
    text = as_markdown()
    assert "| gold labeler: mean score | 0.100 | 0.200 |" in text
    assert "| Describe the lake. | The lake was dull. (-1.00, -0.33) | The lake was great. (2.00, +0.33) |" in text
    assert "Times: sft 10s, total 10s" in text


def test_win_rate_counts_ties_as_half():
    assert sampling.win_rate([1.0, 0.0, 2.0, 1.0], [0.0, 0.0, 3.0, 1.0]) == 0.5
