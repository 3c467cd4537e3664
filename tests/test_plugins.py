"""The registries: the built-in methods, model and judge resolve without an install; another package's model and
judge arrive through entry points, here from a small plug-in installed on sys.path (its .dist-info, as pip writes)."""

import pytest

from rlhf_recipes import methods
from rlhf_recipes.common import artifacts
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.evaluation import judges
from tests.conftest import REPO

PLUGIN = """
from pathlib import Path


class ShortJudge:
    name, label = "short", "the shorter the better"

    def can_judge(self, prompts):
        return True

    def judge(self, prompts, responses):
        from rlhf_recipes.evaluation.judges import Judged

        return Judged([-len(r) for r in responses])


def resolve(name):
    return str(Path(__file__).parent / "model")
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    (tmp_path / "short_judge.py").write_text(PLUGIN)
    (tmp_path / "model").mkdir()
    info = tmp_path / "short_judge-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: short-judge\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[rlhf_recipes.judges]\nshort = short_judge:ShortJudge\n\n"
        "[rlhf_recipes.builtin_models]\nsmall = short_judge:resolve\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_an_installed_plugin_adds_a_judge_and_a_builtin_model(plugin):
    assert {"gold", "short"} <= set(judges.registered())
    (short,) = judges.load(["short"], ["a prompt"])
    assert short.judge(["p", "p"], ["a", "abc"]).scores == [-1, -3]
    assert artifacts.builtin_model("builtin:small") == str(plugin / "model")


def test_the_builtin_model_and_gold_judge_resolve_without_any_entry_point(monkeypatch):
    """As from a source tree on PYTHONPATH, with no package metadata installed."""
    import importlib.metadata

    from rlhf_recipes.quickstart.task import split_prompts

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **_: ())
    monkeypatch.setattr(judges, "entry_points", lambda **_: ())
    assert (REPO / "rlhf_recipes" / "quickstart" / "tiny").samefile(artifacts.builtin_model("builtin:tiny"))
    assert [judge.name for judge in judges.load(["auto"], split_prompts()[1][:4])] == ["gold"]
    with pytest.raises(RecipeError, match="no such built-in model; the built-in ones are builtin:tiny"):
        artifacts.builtin_model("builtin:huge")


def test_methods_are_listed_without_importing_them_and_a_bad_name_is_one_paragraph():
    assert methods.names()[:4] == ["ppo", "rloo", "grpo", "dpo"]
    assert methods.get("rloo").name == "rloo"
    with pytest.raises(RecipeError, match="method 'nope': no such method; choose one of ppo, rloo, grpo, dpo"):
        methods.get("nope")
