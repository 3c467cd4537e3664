"""Recipe folders: the ones shipped in the package (the repository's recipes/), finding one by name or path, and
copying one to start your own (docs/recipes.md)."""

import re
import shutil
from pathlib import Path

from rlhf_recipes.common.errors import RecipeError

SHIPPED = Path(__file__).resolve().parents[1] / "recipes"


def shipped() -> list[str]:
    """The names of the recipe folders shipped in the package."""
    return sorted(p.name for p in SHIPPED.iterdir() if p.is_dir()) if SHIPPED.is_dir() else []


def find(name_or_path: str | Path) -> Path:
    """A recipe folder: a path (relative to the working directory), else the shipped recipe of that name."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    if len(path.parts) == 1 and (SHIPPED / path).is_dir():
        return SHIPPED / path
    raise RecipeError(
        f"{name_or_path}: no such recipe folder (looked in the working directory {Path.cwd()} and "
        f"among the shipped recipes: {', '.join(shipped())})."
    )


def copy(source: str, destination: Path) -> Path:
    """A shipped recipe (or any recipe folder) copied to `destination` with its data, its outputs renamed after it."""
    folder = find(source)
    if destination.exists():
        raise RecipeError(
            f"{destination}: already exists; `rlhf-recipes new` writes a new folder and never into an "
            "existing one. Choose another name, or move that folder away."
        )
    shutil.copytree(folder, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for config in destination.glob("*.yaml"):
        text = re.sub(r"\boutputs/[^/\s]+/", f"outputs/{destination.name}/", config.read_text())
        config.write_text(re.sub(rf"\brecipes/{re.escape(folder.name)}\b", str(destination), text))
    return destination
