"""TRL 1.12 through the newest: every stage, PPO included, runs on both lines (TRL 1.13 removed its PPOTrainer; the
PPO method is this package's own trainer, `methods.ppo_trainer`, which needs nothing TRL removed)."""

import importlib
import logging
import sys

import pytest
import tomllib
from packaging.requirements import Requirement

from rlhf_recipes import cli, methods
from tests.conftest import QUICKSTART, REPO

TESTED_TRL = ("1.12.0", "1.16.0")  # constraints-trl1.12.txt and constraints.txt


def test_the_package_admits_both_tested_trl_lines():
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (trl,) = [Requirement(d) for d in dependencies if Requirement(d).name == "trl"]
    assert all(trl.specifier.contains(version) for version in TESTED_TRL)
    pins = {name: (REPO / name).read_text() for name in ("constraints.txt", "constraints-trl1.12.txt")}
    assert "trl==1.16.0" in pins["constraints.txt"].splitlines()
    assert "trl==1.12.0" in pins["constraints-trl1.12.txt"].splitlines()


def test_ppo_needs_nothing_trl_removed(monkeypatch):
    monkeypatch.setitem(sys.modules, "trl.experimental.ppo", None)  # as on TRL 1.13 and later
    for name in ("rlhf_recipes.methods.ppo", "rlhf_recipes.methods.ppo_trainer", "rlhf_recipes.methods.ppo_models"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    module = importlib.import_module("rlhf_recipes.methods.ppo")
    assert module.PPOTrainer.__mro__[1].__module__.startswith("transformers.")


class _Started(Exception):
    """Raised by the stand-in pipeline once it has seen what it was asked to run."""


def test_the_quickstart_runs_ppo_on_any_trl_and_says_nothing_of_trl(monkeypatch, tmp_path, caplog):
    from rlhf_recipes import pipeline

    asked = []

    def start(recipes, output_dir, force, seed, methods, verbose):
        asked.append((recipes.resolve(), methods))
        raise _Started

    monkeypatch.setattr(pipeline, "run_pipeline", start)
    with caplog.at_level(logging.WARNING, logger="rlhf_recipes"), pytest.raises(_Started):
        cli.main(["quickstart", "--output-dir", str(tmp_path / "qs")])
    assert asked == [(QUICKSTART.resolve(), ("ppo",))] and methods.DEFAULT == ("ppo",) and "TRL" not in caplog.text
    assert list(methods.available()) == ["ppo", "rloo", "grpo", "dpo"]
