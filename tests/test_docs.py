"""The documentation, checked: the README stays a short front door, every relative link and anchor resolves, and
every table of measured figures is the one its bench script renders from its stored JSON."""

import json
import re
from pathlib import Path

import pytest

from bench import quality
from tests.conftest import REPO

README = REPO / "README.md"
PAGES = sorted([README, REPO / "recipes" / "README.md", *(REPO / "docs").glob("*.md"), *(REPO / "bench").glob("*.md")])
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")

# (markers, table function, stored JSON): each block between the markers is exactly what `bench.quality` writes
TABLES = [
    (quality.MARKERS, quality.table, "QUALITY.json"),
    (quality.METHOD_MARKERS, quality.method_table, "METHODS.json"),
    (quality.PTX_MARKERS, quality.ptx_table, "PTX.json"),
    (quality.ROUND_MARKERS, quality.round_table, "ROUNDS.json"),
    (
        quality.marked(quality.METHOD_MARKERS, Path("PPO_VS_TRL.json"), "METHODS.json"),
        quality.method_table,
        "PPO_VS_TRL.json",
    ),
    (
        quality.marked(quality.MARKERS, Path("PPO_NEWEST_TRL.json"), "QUALITY.json"),
        quality.table,
        "PPO_NEWEST_TRL.json",
    ),
]


def name(path: Path) -> str:
    return str(path.relative_to(REPO))


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where brackets are not links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())  # a link in a heading keeps its text
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor in a markdown file, with GitHub's -1, -2 ... for repeated headings."""
    found, seen = set(), {}
    headings = re.findall(
        r"^#{1,6}\s+(.+?)\s*#*\s*$", re.sub(r"^```.*?^```", "", path.read_text(), flags=re.M | re.S), flags=re.M
    )
    for heading in headings:
        anchor = slug(heading)
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        found.add(anchor if count == 0 else f"{anchor}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    # http(s) and mailto: links are not fetched
    return [target for target in LINK.findall(prose(path.read_text())) if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_relative_link_and_anchor_resolves(page):
    broken = []
    for target in relative_links(page):
        file, _, anchor = target.partition("#")
        linked = (page.parent / file).resolve() if file else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading with the anchor #{anchor} in {name(linked)}")
    assert broken == [], f"{name(page)}: {broken}"


def test_the_link_checker_follows_githubs_anchor_rule():
    assert slug("Our PPO trainer beside TRL 1.12's PPOTrainer") == "our-ppo-trainer-beside-trl-112s-ppotrainer"
    assert slug("Your own folder: `rlhf-recipes new`") == "your-own-folder-rlhf-recipes-new"
    assert slug("Training curves: TensorBoard, trackio, wandb") == "training-curves-tensorboard-trackio-wandb"
    assert relative_links(README)  # the README does link to its pages


def test_the_readme_is_a_front_door_of_at_most_200_lines():
    lines = README.read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move a topic to a page under docs/"


def test_every_docs_page_the_readme_links_to_exists():
    pages = {target.partition("#")[0] for target in relative_links(README) if target.startswith("docs/")}
    assert {"docs/install.md", "docs/recipes.md", "docs/data-formats.md"} <= pages
    assert [page for page in sorted(pages) if not (REPO / page).is_file()] == []


def test_every_docs_page_is_reachable_from_the_readme():
    linked = {(REPO / target.partition("#")[0]).resolve() for target in relative_links(README)}
    pages = [page for page in (REPO / "docs").glob("*.md") if page.resolve() not in linked]
    assert pages == [], "README.md, Where to go next: link every page under docs/"


def test_every_docs_page_the_code_names_exists_with_the_section_it_names():
    """`docs/outputs.md, "Logs"` in a docstring or a message: the page, and a heading of that name in it."""
    sources = [
        p
        for folder in ("rlhf_recipes", "bench", "tests")
        for p in sorted((REPO / folder).rglob("*.py"))
        if "recipes" not in p.relative_to(REPO).parts[1:]
    ]
    missing = []
    for source in sources:
        for page, section in re.findall(r'(docs/[\w-]+\.md)(?:, "([^"]+)")?', source.read_text()):
            if not (REPO / page).is_file():
                missing.append(f"{name(source)}: {page}")
            elif section and slug(section) not in anchors(REPO / page):
                missing.append(f'{name(source)}: {page}, "{section}"')
    assert missing == []


def marked_pages() -> list[tuple[Path, tuple[str, str], object, str]]:
    """(page, markers, table function, JSON) for each marked table in bench/QUALITY.md and the docs pages."""
    found = []
    for page in [REPO / "bench" / "QUALITY.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = page.read_text()
        found += [(page, markers, render, stored) for markers, render, stored in TABLES if markers[0] in text]
    return found


def table_id(value) -> str | None:
    return name(value) if isinstance(value, Path) else value if isinstance(value, str) else None


@pytest.mark.parametrize("page, markers, render, stored", marked_pages(), ids=table_id)
def test_each_marked_table_is_the_one_its_sweep_renders_from_the_stored_json(page, markers, render, stored):
    text = page.read_text()
    assert text.count(markers[0]) == 1 and text.count(markers[1]) == 1, f"{name(page)}: {markers} once each"
    data = json.loads((REPO / "bench" / stored).read_text())
    expected = "\n".join([markers[0], "", data["hardware"], "", render(data["runs"]), "", markers[1]])
    start, end = text.index(markers[0]), text.index(markers[1]) + len(markers[1])
    assert text[start:end] == expected, (
        f"{name(page)}, between {markers[0]}: not what bench/{stored} renders. bench/quality.py writes the table into "
        f"bench/QUALITY.md; copy that block here, or rerun the sweep if the JSON is newer than both."
    )


def test_the_sweep_tables_are_all_in_quality_md():
    text = (REPO / "bench" / "QUALITY.md").read_text()
    assert [markers for markers, _, _ in TABLES if markers[0] not in text] == []
