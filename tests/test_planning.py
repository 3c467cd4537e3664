"""`rlhf-recipes plan`: the traced plan against the same tracker on real tensors, the verdict, and bad input."""

import shutil
from dataclasses import replace

import pytest

from rlhf_recipes import cli
from rlhf_recipes.planning import gpus
from rlhf_recipes.planning.plan import estimate, workload
from rlhf_recipes.planning.trace import highest, trace, trace_once, with_layers
from tests.conftest import REPO

QUICKSTART = REPO / "recipes" / "quickstart"
FAST = ["--max_length", "96"]  # the YAML's batch, shorter sequences: seconds on one core
ERRORS: dict[str, float] = {}  # the relative errors seen, printed at the end (pytest -s)


def relative_error(planned: float, measured: float) -> float:
    return abs(planned - measured) / measured


@pytest.mark.parametrize(
    "stage, overrides",
    [("sft", FAST), ("reward", FAST)],  # PPO: below, at 6 layers
)
def test_the_plan_matches_the_tracker_on_real_tensors(stage, overrides):
    work = workload(QUICKSTART / f"{stage}.yaml", overrides)
    planned = sum(trace(work.step, fake=True)[1].values())
    measured = sum(trace(work.step, fake=False)[1].values())  # the same built models, one real step on CPU
    ERRORS[stage] = relative_error(planned, measured)
    print(f"{stage}: planned {planned / 2**20:.2f} MiB, measured {measured / 2**20:.2f} MiB, error {ERRORS[stage]:.1%}")
    assert ERRORS[stage] <= 0.10
    assert estimate(work).peak >= planned  # the plan adds what is not traced (PPO's frozen reward model)


@pytest.mark.parametrize(
    "stage, overrides",
    [
        ("sft", ["--max_length", "64", "--per_device_train_batch_size", "2"]),
        ("ppo", ["--max_prompt_length", "24", "--response_length", "16", "--per_device_train_batch_size", "2"]),
    ],
)
def test_a_deep_model_is_extrapolated_from_traces_of_few_layers(stage, overrides):
    work = workload(QUICKSTART / f"{stage}.yaml", overrides)
    deep = tuple(replace(model, config=with_layers(model.config, 6)) for model in work.step.models)
    six = replace(work.step, models=deep)
    planned = sum(trace(six, fake=True)[1].values())  # traced at 2 and 3 layers
    measured = sum(highest(trace_once(six, fake=False))[1].values())  # all 6 layers, real tensors
    ERRORS[f"{stage}, 6 layers extrapolated"] = relative_error(planned, measured)
    print(f"largest relative error seen: {max(ERRORS.values()):.1%} ({ERRORS})")
    assert ERRORS[f"{stage}, 6 layers extrapolated"] <= 0.10


def test_the_verdict():
    gib = gpus.GIB
    assert gpus.verdict(10 * gib, 16 * gib) == "fits"
    assert gpus.verdict(14 * gib, 16 * gib) == "tight"
    assert gpus.verdict(17 * gib, 16 * gib) == "does not fit"
    assert gpus.gpu("t4")[0] == "T4" and gpus.gpu("24GB")[1] == 24 * gib


def test_the_cli_plans_and_says_the_allocator_factor_is_unmeasured(capsys):
    cli.main(["plan", str(QUICKSTART / "sft.yaml"), "--gpu", "0.05GB"])
    out = capsys.readouterr().out
    assert "peak per GPU" in out and "activations and logits" in out
    assert "verdict on 0.05 GB" in out and "not been measured on a GPU yet" in out
    assert "cheapest changes that fit:" in out and "->" in out


def plan_error(capsys, *argv) -> str:
    with pytest.raises(SystemExit):
        cli.main(["plan", *map(str, argv)])
    return capsys.readouterr().err


def test_an_unknown_gpu_is_one_paragraph(capsys):
    err = plan_error(capsys, QUICKSTART / "sft.yaml", "--gpu", "V100")
    assert "--gpu 'V100'" in err and "A100-80" in err and "<N>GB" in err and err.count("\n") == 1


def test_a_model_neither_a_folder_nor_cached_is_one_paragraph(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    shutil.copytree(QUICKSTART / "data", tmp_path / "data")
    text = (QUICKSTART / "sft.yaml").read_text().replace("builtin:tiny", "no-such-org/no-such-model")
    (tmp_path / "sft.yaml").write_text(text)
    err = plan_error(capsys, tmp_path / "sft.yaml")
    assert "'no-such-org/no-such-model' is neither a local folder nor" in err and "config.json" in err
    assert err.count("\n") == 1


def test_a_yaml_that_names_no_model_is_one_paragraph(capsys, tmp_path):
    shutil.copytree(QUICKSTART / "data", tmp_path / "data")
    lines = (QUICKSTART / "sft.yaml").read_text().splitlines()
    (tmp_path / "sft.yaml").write_text("\n".join(line for line in lines if not line.startswith("model_name_or_path")))
    err = plan_error(capsys, tmp_path / "sft.yaml")
    assert "model_name_or_path is not set" in err and err.count("\n") == 1


def test_four_bit_weights_are_a_stated_formula():
    full = estimate(workload(QUICKSTART / "sft.yaml", FAST))
    quantized = estimate(workload(QUICKSTART / "sft.yaml", [*FAST, "--load_in_4bit", "true"]))
    assert quantized.formula == {"4-bit base weights"} and not full.formula
    frozen_linear = full.parts["weights"] - quantized.parts["weights"]  # fp32: 4 bytes a weight
    assert quantized.parts["4-bit base weights"] == pytest.approx(frozen_linear / 4 * (0.5 + 4 / 64))
