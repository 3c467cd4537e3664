"""The architecture, checked: thin stage modules, and nothing below them imports a stage."""

import ast

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "rlhf_recipes"
STAGES = ("sft", "reward", "ppo", "rloo", "grpo", "dpo")
MAY_IMPORT_STAGES = {"pipeline.py", "cli.py"}


def imported_modules(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_module_is_thin_like_trls_scripts(stage):
    source = (PACKAGE / f"{stage}.py").read_text()
    (main,) = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    assert len(source.splitlines()) <= 130
    assert main.end_lineno - main.lineno + 1 <= 45


def test_only_the_pipeline_and_the_cli_import_a_stage():
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 10
    importers = {
        str(path.relative_to(PACKAGE))
        for path in modules
        if imported_modules(ast.parse(path.read_text())) & {f"rlhf_recipes.{stage}" for stage in STAGES}
    }
    assert importers and importers <= MAY_IMPORT_STAGES
