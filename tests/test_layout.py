"""The architecture, checked: thin stage modules that declare themselves, and imports that only run downwards.

Layers, from the bottom: `common/` (what every stage uses), `evaluation/` (the report), `training.py` (what every
stage does around its trainer), then the stages
(`sft.py`, `reward.py`, `methods/`) beside the quickstart's world (`quickstart/`) and the labeling of
samples (`labeling/`), then `pipeline.py`, then `rounds.py` (iterated RLHF) beside `planning/` (will it fit?), then
`cli.py`. A module imports its own room and the layers below it, never one above or beside it.
"""

import ast

import pytest

from rlhf_recipes import methods
from tests.conftest import REPO

PACKAGE = REPO / "rlhf_recipes"
RANK = {
    "common": 0,
    "evaluation": 1,
    "training": 2,
    "quickstart": 3,
    "sft": 3,
    "reward": 3,
    "methods": 3,
    "labeling": 3,
    "pipeline": 4,
    "rounds": 5,
    "planning": 5,
    "cli": 6,
}
STAGE_ROOMS = ("sft", "reward", "methods")


def imported_modules(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def room(module: str) -> str | None:
    """The room of `rlhf_recipes.<room>...` (or of a path inside the package)."""
    parts = module.removeprefix("rlhf_recipes.").removesuffix(".py").replace("/", ".").split(".")
    return parts[0] if parts[0] in RANK else None


def package_imports() -> dict[str, set[str]]:
    """{module path in the package: the package's modules it imports}."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        names = imported_modules(ast.parse(path.read_text()))
        found[str(path.relative_to(PACKAGE))] = {n for n in names if n.startswith("rlhf_recipes.")}
    return found


def stage_modules() -> list[str]:
    """The modules that declare a STAGE."""
    return [path for path in package_imports() if "\nSTAGE = " in (PACKAGE / path).read_text()]


def test_every_stage_and_method_declares_itself():
    assert sorted(stage_modules()) == sorted(
        ["sft.py", "reward.py", "methods/ppo.py", "methods/rloo.py", "methods/grpo.py", "methods/dpo.py"]
    )
    assert list(methods.available()) == ["ppo", "rloo", "grpo", "dpo"]


@pytest.mark.parametrize(
    "path", ["sft.py", "reward.py", "methods/ppo.py", "methods/rloo.py", "methods/grpo.py", "methods/dpo.py"]
)
def test_a_stage_module_is_thin_like_trls_scripts(path):
    source = (PACKAGE / path).read_text()
    (main,) = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    assert len(source.splitlines()) <= 120  # in the formatter's layout: one argument per line where a call is long
    assert main.end_lineno - main.lineno + 1 <= 50  # data, trainer, training.finish_stage


def test_only_the_pipeline_and_the_cli_import_a_stage():
    stages = {"rlhf_recipes." + path.removesuffix(".py").replace("/", ".") for path in stage_modules()}
    importers = {path for path, names in package_imports().items() if names & stages}
    assert importers and importers <= {"pipeline.py", "cli.py"}


def test_imports_run_only_downwards():
    upwards = [
        f"{path} imports {name}"
        for path, names in package_imports().items()
        for name in names
        if room(name) and room(name) != room(path) and RANK[room(name)] >= RANK[room(path)]
    ]
    assert upwards == []  # e.g. common/ importing evaluation/ or quickstart/, evaluation/ importing quickstart/


def test_common_holds_no_module_that_only_one_stage_uses():
    imports = package_imports()
    for path in sorted(p for p in imports if p.startswith("common/") and not p.endswith("__init__.py")):
        module = "rlhf_recipes." + path.removesuffix(".py").replace("/", ".")
        users = {room(p) for p, names in imports.items() if module in names and room(p) != "common"}
        used_in_common = any(module in names for p, names in imports.items() if room(p) == "common")
        assert used_in_common or not (len(users) == 1 and users <= set(STAGE_ROOMS)), f"{path} is used by {users} only"


def test_the_documented_layout_names_every_module():
    page = (REPO / "docs" / "architecture.md").read_text()
    layout = page.split("## Layout", 1)[1].split("```", 2)[1]
    named = {word.strip(",") for line in layout.splitlines() for word in line.split()}
    nested = lambda p: len(p.relative_to(PACKAGE).parts) > 2 and f"{p.parent.name}/" in named  # noqa: E731
    missing = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.name != "__init__.py" and p.name not in named and not nested(p)
    ]
    assert missing == []  # a folder two levels down (common/formats/) may stand for its files


def test_the_documented_rooms_are_the_packages():
    page = (REPO / "docs" / "architecture.md").read_text()
    table = page.split("## Rooms", 1)[1].split("\n\n| layer |", 1)[1].split("\n\n", 1)[0]
    documented = {}
    for row in table.splitlines()[2:]:
        layer, rooms = row.split("|")[1:3]
        documented |= {name.strip(" `/").removesuffix(".py"): int(layer) for name in rooms.split(", ")}
    on_disk = {p.stem for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()}
    assert documented == RANK and set(RANK) == on_disk - {"__init__"}
