"""A run that did nothing: the report, the terminal summary and the stage's own log say the policy barely moved."""

import json
import logging

import pytest

from rlhf_recipes import cli
from rlhf_recipes.evaluation import barely_moved, report
from tests.conftest import QUICKSTART, REPO, run_stage
from tests.test_group_stages import run_group

LIMITS = barely_moved.Thresholds(min_kl=barely_moved.MIN_KL, max_identical_share=barely_moved.MAX_IDENTICAL_SHARE)


@pytest.mark.parametrize(
    "kl, identical, moved",
    [(1.0, 0.1, True), (0.0, 0.1, True), (1.0, 0.9, True), (0.02, 0.4, True), (0.0, 1.0, False), (-0.001, 0.6, False)],
)
def test_barely_moved_needs_a_kl_near_zero_and_mostly_sfts_samples(kl, identical, moved):
    assert barely_moved.from_figures({"kl_mean": kl, "identical_to_reference": identical}, LIMITS) is not moved


def test_identical_share_compares_each_sample_with_the_references_for_the_same_prompt():
    assert barely_moved.identical_share(["a", "b", "c", "d"], ["a", "x", "c", "y"]) == 0.5
    assert barely_moved.identical_share(["a", "b"], ["b", "a"]) == 0.0  # the same texts, not at the same index


def test_the_warning_names_the_causes_in_order_with_each_methods_options():
    (ppo,) = barely_moved.warnings(
        {
            "ppo": {"kl_mean": 0.0, "identical_to_reference": 1.0, "barely_moved": True},
            "rloo": {"kl_mean": 1.0, "identical_to_reference": 0.1, "barely_moved": False},
        },
        vars(LIMITS),
    )
    assert ppo.startswith("Barely moved (ppo): KL to SFT 0.000 nats (below 0.05) and 100% of its samples identical")
    order = [ppo.index(option) for option in ("`kl_coef`", "`learning_rate`", "`normalize_reward", "`total_episodes`")]
    assert order == sorted(order)
    assert "`beta`" in barely_moved.causes("grpo") and "`max_steps`" in barely_moved.causes("grpo")
    assert "normalize_reward" not in barely_moved.causes("dpo")  # no reward model to standardize
    assert "`kl_coef` for PPO, `beta` for RLOO/GRPO/DPO" in barely_moved.causes("my_method")


HEALTHY = {
    "ppo": [{"objective/kl": kl} for kl in (0.0, 0.04, 0.3, 0.7, 1.06, 0.69)],
    "rloo": [{"kl": kl, "completions/mean_length": 8.7} for kl in (0.003, 0.017, 0.104, 0.16, 0.14, 0.136)],
    "dpo": [{"rewards/chosen": c, "rewards/rejected": r} for c, r in ((0.02, -0.26), (-0.08, -1.6), (-0.15, -2.5))],
}


@pytest.mark.parametrize("stage", list(HEALTHY))
def test_the_stage_check_is_quiet_on_a_healthy_run_and_warns_on_an_unmoved_one(stage, caplog):
    with caplog.at_level(logging.WARNING):
        assert barely_moved.check_stage(stage, HEALTHY[stage] + [{"train_loss": 0.1}], beta=0.5) is None
        assert caplog.text == ""
        unmoved = [{key: 0.0 if key != "completions/mean_length" else 9.0 for key in e} for e in HEALTHY[stage]]
        message = barely_moved.check_stage(stage, unmoved, beta=0.5)
    assert message in caplog.text and message.startswith(f"{stage.upper()} barely moved the policy")
    assert "is 0.000 nats per response, below 0.05. Judged from this figure alone; the report checks" in message
    assert barely_moved.check_stage("grpo", [{"loss": 0.0}]) is None  # beta 0: no KL logged, nothing to judge by


def test_the_kl_criterion_never_fires_on_the_quality_sweeps():
    kls = [
        figures["kl_mean"]
        for name in ("QUALITY.json", "METHODS.json")
        for run in json.loads((REPO / "bench" / name).read_text())["runs"]
        for figures in run["methods"].values()
    ]
    assert len(kls) == 34 and min(kls) > 10 * barely_moved.MIN_KL  # lowest: 0.77 (PPO)


def capture_warnings(run):
    """What `run()` logs at WARNING and above, and its result."""
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logging.getLogger("rlhf_recipes").addHandler(handler)
    try:
        return run(), "\n".join(r.getMessage() for r in records)
    finally:
        logging.getLogger("rlhf_recipes").removeHandler(handler)


@pytest.fixture(scope="module")
def unmoved_rloo(tmp_path_factory, tiny_dir, trained_reward, prompts_file):
    """RLOO at learning rate 0 (the adapter stays exactly SFT), its stage log, and the report on it."""
    out = tmp_path_factory.mktemp("unmoved")
    _, log = capture_warnings(
        lambda: run_group("rloo", out / "rloo", tiny_dir, trained_reward[1], prompts_file, "--learning_rate", "0")
    )
    args = report.ReportArguments(
        policy=[str(out / "rloo")],
        reference=tiny_dir,
        reward_model=str(trained_reward[1]),
        prompts=str(prompts_file),
        max_prompts=8,
        samples_per_prompt=2,
        output_dir=str(out / "report"),
    )
    return log, report.main(args), out / "report"


@pytest.mark.slow
def test_an_unmoved_stage_says_so_in_its_log(unmoved_rloo):
    log, _, _ = unmoved_rloo
    assert "RLOO barely moved the policy: its KL to the SFT model (kl x completions/mean_length), the mean" in log
    assert "(1) the KL coefficient `beta` too high for the reward's scale: lower it" in log


@pytest.mark.slow
def test_an_unmoved_policy_is_flagged_in_the_report(unmoved_rloo):
    _, _, folder = unmoved_rloo
    figures = json.loads((folder / "report.json").read_text())["methods"]["rloo"]
    assert figures["identical_to_reference"] == 1.0 and figures["barely_moved"] is True
    assert abs(figures["kl_mean"]) < 1e-6
    text = (folder / "report.md").read_text()
    assert "> **Barely moved (rloo):** KL to SFT 0.000 nats (below 0.05) and 100% of its samples identical" in text


@pytest.mark.slow
def test_an_unmoved_policy_is_flagged_on_the_terminal(unmoved_rloo, capsys):
    cli.print_summary(unmoved_rloo[1])
    out = capsys.readouterr().out
    assert "WARNING: Barely moved (rloo): KL to SFT 0.000 nats" in out and "(2) the learning rate too low" in out


@pytest.mark.slow
def test_an_unmoved_ppo_stage_says_so_in_its_log(tmp_path, tiny_dir, trained_reward, prompts_file):
    from rlhf_recipes.methods import ppo

    _, log = capture_warnings(
        lambda: run_stage(
            ppo,
            QUICKSTART / "ppo.yaml",
            "--sft_model_path",
            tiny_dir,
            "--reward_model_path",
            str(trained_reward[1]),
            "--dataset_name",
            str(prompts_file),
            "--output_dir",
            str(tmp_path / "ppo"),
            "--total_episodes",
            "32",
            "--per_device_train_batch_size",
            "16",
            "--local_rollout_forward_batch_size",
            "16",
            "--num_ppo_epochs",
            "2",
            "--response_length",
            "12",
            "--num_sample_generations",
            "0",
            "--report_to",
            "none",
            "--learning_rate",
            "0",
        )
    )
    assert "PPO barely moved the policy: its KL to the SFT model (objective/kl), the mean of the last 1 of 2" in log
    assert "lower it; (2) the learning rate too low: raise `learning_rate`; (3) a reward model not standardized" in log
