"""TRL 1.12 through the newest: PPO needs 1.12.x (TRL 1.13 removed PPOTrainer), every other stage runs on both lines.

On a TRL without PPOTrainer, choosing PPO stops before any model loads with one paragraph that names the fix
and the methods this TRL has, and the quickstart runs RLOO instead, saying so. These tests simulate such a TRL
on 1.12 by blocking `trl.experimental.ppo` in `sys.modules` (an import of it then fails, as on 1.13 and later),
so they run, and can fail, on both lines.
"""

import logging
import subprocess
import sys

import pytest
from packaging.version import Version

from rlhf_recipes import cli, methods
from rlhf_recipes.common import trl_support
from tests.conftest import QUICKSTART, REPO

PPO_MODULES = ("rlhf_recipes.methods.ppo", "rlhf_recipes.methods.ppo_bridges", "rlhf_recipes.methods.ppo_models")
FIX = 'pip install "trl==1.12.*"'
BLOCK_PPO = f"import sys; sys.modules[{trl_support.PPO_MODULE!r}] = None; "


@pytest.fixture
def without_ppo(monkeypatch):
    """This process as on a TRL without PPOTrainer: its module cannot be imported, nor the project's PPO modules
    that import it (they are imported afresh; everything is put back afterwards)."""
    monkeypatch.setitem(sys.modules, trl_support.PPO_MODULE, None)
    for name in PPO_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)


def assert_the_ppo_paragraph(stderr: str) -> None:
    """The whole error output is one paragraph, `error: ...`, with the fix and the alternatives."""
    (line,) = [line for line in stderr.splitlines() if line.strip()]
    assert line.startswith("error: The PPO method needs TRL's PPOTrainer, which TRL removed in 1.13")
    assert FIX in line and "rloo" in line and "grpo" in line


def test_ppo_is_found_exactly_where_trl_is_older_than_1_13():
    assert trl_support.has_ppo() == (Version(trl_support.trl_version()) < Version("1.13"))


@pytest.mark.parametrize("simulated", [True, pytest.param(False, marks=pytest.mark.skipif(
    trl_support.has_ppo(), reason="this TRL has PPOTrainer: only the simulated one lacks it"))])  # fmt: skip
def test_the_ppo_module_entry_stops_with_one_paragraph_before_any_model_loads(tmp_path, simulated):
    argv = ["--config", str(QUICKSTART / "ppo.yaml"), "--output_dir", str(tmp_path / "ppo")]
    as_python_m = (f"import runpy; sys.argv[1:] = {argv!r}; "  # what `python -m` does: the module as __main__
                   f"runpy.run_module({PPO_MODULES[0]!r}, run_name='__main__', alter_sys=True)")
    command = ["-c", BLOCK_PPO + as_python_m] if simulated else ["-m", PPO_MODULES[0], *argv]
    done = subprocess.run([sys.executable, *command], check=False, cwd=REPO, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert_the_ppo_paragraph(done.stderr)
    assert done.stdout == "" and not (tmp_path / "ppo").exists()


@pytest.mark.parametrize("chosen", [["ppo"], ["rloo", "ppo"]])
def test_the_pipeline_refuses_ppo_before_its_first_stage(without_ppo, tmp_path, capsys, chosen):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["pipeline", str(QUICKSTART), "--methods", *chosen, "--output-dir", str(tmp_path / "out")])
    assert stopped.value.code == 2
    assert_the_ppo_paragraph(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()  # not even the SFT stage started


def test_ppo_stays_listed_and_refuses_when_its_parser_is_built(without_ppo):
    listed = methods.available()
    assert list(listed) == ["ppo", "rloo", "grpo", "dpo"]
    assert "needs trl==1.12.*" in listed["ppo"].summary
    with pytest.raises(trl_support.NotInThisTrl, match="removed in 1.13") as refused:
        listed["ppo"].make_parser()
    assert FIX in str(refused.value)
    assert methods.default() == ("rloo",)


def test_a_folder_without_the_stand_in_for_ppo_is_refused_with_the_ppo_paragraph(without_ppo, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["pipeline", str(REPO / "recipes" / "tutorial-gpt2"), "--output-dir", str(tmp_path / "out")])
    assert_the_ppo_paragraph(capsys.readouterr().err)  # it has no rloo.yaml: the fix is PPO's TRL
    assert not (tmp_path / "out").exists()


class _Started(Exception):
    """Raised by the stand-in pipeline once it has seen what it was asked to run."""


@pytest.fixture
def asked(monkeypatch) -> list:
    """The (folder, methods) the CLI starts the pipeline with; the stand-in stops there, before any stage."""
    from rlhf_recipes import pipeline

    calls = []

    def start(recipes, output_dir, force, seed, methods):
        calls.append((recipes, methods))
        raise _Started

    monkeypatch.setattr(pipeline, "run_pipeline", start)
    return calls


def test_the_quickstart_runs_rloo_without_ppo_and_says_so(without_ppo, asked, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="rlhf_recipes"), pytest.raises(_Started):
        cli.main(["quickstart", "--output-dir", str(tmp_path / "qs")])
    assert asked == [(QUICKSTART, ("rloo",))]
    assert "has no PPOTrainer" in caplog.text and "running rloo" in caplog.text and FIX in caplog.text


@pytest.mark.skipif(not trl_support.has_ppo(), reason="needs a TRL with PPOTrainer (1.12.x)")
def test_with_ppotrainer_the_quickstart_still_runs_ppo_and_says_nothing(asked, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="rlhf_recipes"), pytest.raises(_Started):
        cli.main(["quickstart", "--output-dir", str(tmp_path / "qs")])
    assert asked == [(QUICKSTART, ("ppo",))] and methods.DEFAULT == ("ppo",) and "PPOTrainer" not in caplog.text

