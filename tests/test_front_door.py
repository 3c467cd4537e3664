"""Outside a clone: shipped recipes by name, `rlhf-recipes new`, the path rule, and bad input in one paragraph,
also where bitsandbytes takes its AVX512-BF16 path."""

import filecmp
import os
import subprocess
import sys
import textwrap

import pytest

from rlhf_recipes import cli, sft
from rlhf_recipes.common import recipe_folders
from rlhf_recipes.common.parsing import parse
from tests.conftest import QUICKSTART, REPO


def error_of(capsys, *argv) -> str:
    """The command's one-paragraph error (exit 2), as printed."""
    with pytest.raises(SystemExit) as stopped:
        cli.main(list(argv))
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def test_the_shipped_recipes_are_the_repositorys(monkeypatch, tmp_path):
    assert recipe_folders.SHIPPED.resolve() == (REPO / "recipes").resolve()
    assert {"quickstart", "tutorial-gpt2"} <= set(recipe_folders.shipped())
    monkeypatch.chdir(tmp_path)  # a name is found from any folder
    assert recipe_folders.find("quickstart").resolve() == QUICKSTART.resolve()


def test_new_copies_a_recipe_with_its_data_and_outputs_of_its_own(monkeypatch, tmp_path, capsys):
    folder = tmp_path / "my-task"
    cli.main(["new", str(folder), "--from", "tutorial-gpt2"])
    source = recipe_folders.find("tutorial-gpt2")
    assert sorted(p.name for p in folder.glob("*.yaml")) == sorted(p.name for p in source.glob("*.yaml"))
    data = sorted(p.name for p in (source / "data").iterdir())
    assert data and filecmp.cmpfiles(source / "data", folder / "data", data, shallow=False)[0] == data
    text = "".join(p.read_text() for p in folder.glob("*.yaml"))
    assert "outputs/tutorial-gpt2" not in text and "outputs/my-task/sft" in text
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the YAML's data is found next to it, its outputs go under the working directory
    script_args, training_args, _ = parse(sft.make_parser(), ["--config", str(folder / "sft.yaml")])
    assert script_args.dataset_name == str(folder / "data" / "sft.json")
    assert training_args.output_dir == "outputs/my-task/sft"
    assert "rlhf-recipes pipeline" in capsys.readouterr().out


def test_the_path_rule_prefers_the_yamls_folder_then_the_working_directory(monkeypatch, tmp_path):
    folder = tmp_path / "recipe"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "sft.jsonl").write_text('{"prompt": "a", "response": "b"}\n')
    (tmp_path / "cwd_data.jsonl").write_text('{"prompt": "a", "response": "b"}\n')
    (folder / "sft.yaml").write_text((QUICKSTART / "sft.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    (script_args, *_) = parse(sft.make_parser(), ["--config", str(folder / "sft.yaml")])
    assert script_args.dataset_name == str(folder / "data" / "sft.jsonl")
    (script_args, *_) = parse(
        sft.make_parser(), ["--config", str(folder / "sft.yaml"), "--dataset_name", "cwd_data.jsonl"]
    )
    assert script_args.dataset_name == "cwd_data.jsonl"  # the command line's paths are the working directory's
    (folder / "sft.yaml").write_text((folder / "sft.yaml").read_text().replace("data/sft.jsonl", "cwd_data.jsonl"))
    (script_args, *_) = parse(sft.make_parser(), ["--config", str(folder / "sft.yaml")])
    assert script_args.dataset_name == "cwd_data.jsonl"  # not next to the YAML: the working directory's


def test_bad_recipe_folders_and_copies_end_in_one_paragraph(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    assert "no-such-recipe: no such recipe folder" in error_of(capsys, "pipeline", "no-such-recipe")
    half = tmp_path / "half"
    half.mkdir()
    (half / "sft.yaml").write_text((QUICKSTART / "sft.yaml").read_text())
    assert f"{half}: no reward.yaml" in error_of(capsys, "pipeline", str(half))
    (tmp_path / "taken").mkdir()
    assert "taken: already exists" in error_of(capsys, "new", "taken")
    assert "nothing-like-it: no such recipe folder" in error_of(capsys, "new", "mine", "--from", "nothing-like-it")
    assert not (tmp_path / "mine").exists()


@pytest.mark.slow
def test_a_data_path_found_under_neither_rule_is_named(monkeypatch, tmp_path, capsys):
    folder = tmp_path / "recipe"
    cli.main(["new", str(folder)])
    (folder / "sft.yaml").write_text((folder / "sft.yaml").read_text().replace("data/sft.jsonl", "data/gone.jsonl"))
    monkeypatch.chdir(tmp_path)
    err = error_of(capsys, "pipeline", str(folder), "--output-dir", str(tmp_path / "out"))
    assert "data/gone.jsonl: no such file or folder" in err and "YAML's folder" in err and str(tmp_path) in err


# bitsandbytes.functional.has_avx512bf16 answering yes, as on an AVX512-BF16 CPU, before bitsandbytes loads its
# CPU backend (which then logs that the optional `kernels` package is missing).
AVX512_BF16 = textwrap.dedent("""
    import importlib.abc, importlib.machinery, sys

    class AnswerYes(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "bitsandbytes.functional":
                return None
            sys.meta_path.remove(self)
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                module.has_avx512bf16 = lambda: True

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, AnswerYes())
""")


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"PYTHONPATH": str(REPO)},
    )


def test_an_error_stays_one_paragraph_where_bitsandbytes_takes_its_avx512bf16_path():
    plain = run_python(AVX512_BF16 + "import bitsandbytes")
    assert "kernels-community" in plain.stderr  # the path is taken: bitsandbytes alone says so
    argv = ["ppo", "--config", str(QUICKSTART / "ppo.yaml"), "--sft_model_path", "no/such-model"]
    done = run_python(
        AVX512_BF16 + f"import runpy, sys; sys.argv = {argv!r}; "
        "runpy.run_module('rlhf_recipes.methods.ppo', run_name='__main__', alter_sys=True)"
    )
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "is no local folder" in lines[0], done.stderr
