"""A ranking sheet and its answers: the one place that knows the files `collect` writes and `label` reads; a labeler's
answer to a row is their last event on it. The layout: docs/human-in-the-loop.md, "The files"."""

import csv
import json
import os
import time
from dataclasses import dataclass
from functools import cached_property
from itertools import combinations
from pathlib import Path

from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import get_logger

logger = get_logger(__name__)

ANSWERS_SUFFIX = ".answers.jsonl"
RANKINGS_SUFFIX = ".rankings.csv"
TIES_COLUMN, LABELER_COLUMN = "Ties", "Labeler"


@dataclass(frozen=True)
class Sheet:
    """A sheet's rows and where its answers and rankings go."""

    path: Path
    rows: list[dict]

    @property
    def answers_path(self) -> Path:
        return self.path.with_name(self.path.stem + ANSWERS_SUFFIX)

    @property
    def rankings_path(self) -> Path:
        return self.path.with_name(self.path.stem + RANKINGS_SUFFIX)

    @property
    def num_responses(self) -> int:
        return len(self.rows[0]["responses"])

    @cached_property
    def by_id(self) -> dict[str, dict]:
        return {row["id"]: row for row in self.rows}

    def row(self, row_id: str) -> dict:
        if not isinstance(row_id, str) or row_id not in self.by_id:
            raise RecipeError(f"{self.path}: no row {row_id!r}.")
        return self.by_id[row_id]


def write(path: str | Path, rows: list[dict]) -> Sheet:
    """Write a sheet (rows as `load` reads them); the file appears complete or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)
    os.replace(partial, path)
    return load(path)


def load(path: str | Path) -> Sheet:
    """Read and check a sheet: every problem of the file, by line, in one error."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: no such sheet; make one with `rlhf-recipes collect`.")
    rows, problems = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            problems.append(f"line {number} is not JSON")
            continue
        responses = row.get("responses") if isinstance(row, dict) else None
        if not (
            isinstance(row, dict)
            and isinstance(row.get("id"), str)
            and "prompt" in row
            and isinstance(responses, list)
            and all(isinstance(r, dict) and isinstance(r.get("text"), str) for r in responses)
        ):
            problems.append(f'line {number} is not a sheet row ({{"id", "prompt", "responses": [{{"text", ...}}]}})')
            continue
        rows.append(row)
    if not rows and not problems:
        problems.append("it holds no rows")
    counts = sorted({len(row["responses"]) for row in rows})
    if len(counts) > 1:
        first = {n: next(i for i, row in enumerate(rows, 1) if len(row["responses"]) == n) for n in counts}
        problems.append(
            "rows hold different numbers of responses ("
            + ", ".join(f"{n} from row {first[n]}" for n in counts)
            + "); every row of a sheet ranks the same number"
        )
    elif counts and counts[0] < 2:
        problems.append(f"rows hold {counts[0]} response; a ranking needs two or more")
    ids = [row["id"] for row in rows]
    if len(set(ids)) < len(ids):
        problems.append("row ids repeat")
    if problems:
        raise RecipeError(
            f"{path}: not a ranking sheet: {'; '.join(problems[:5])}"
            f"{f' (and {len(problems) - 5} more)' if len(problems) > 5 else ''}. A sheet is the JSONL "
            "file `rlhf-recipes collect` writes."
        )
    return Sheet(path, rows)


def read_answers(sheet: Sheet) -> list[dict]:
    """Every answer event in the order given; a last line cut short by a crash is reported and left out."""
    if not sheet.answers_path.exists():
        return []
    events, lines = [], sheet.answers_path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            if number < len(lines):
                raise RecipeError(
                    f"{sheet.answers_path}, line {number}: not JSON; this file is only appended to, "
                    "so it was edited by hand. Mend or remove that line."
                ) from None
            logger.warning(f"{sheet.answers_path}: its last line was cut short (a crash mid-write); left out.")
    return events


def answer(
    sheet: Sheet,
    row_id: str,
    labeler: str,
    ranking: list[list[int]] | None = None,
    skipped: bool = False,
    undo: bool = False,
) -> dict:
    """Check one answer and append it to the log, on disk before returning (`append`)."""
    event = make_answer(sheet, row_id, labeler, ranking, skipped, undo)
    append(sheet, [event])
    return event


def make_answer(
    sheet: Sheet,
    row_id: str,
    labeler: str,
    ranking: list[list[int]] | None = None,
    skipped: bool = False,
    undo: bool = False,
) -> dict:
    """One answer event, checked: a ranking orders each response of the row once, in groups best first."""
    if not isinstance(labeler, str) or not labeler.strip():
        raise RecipeError("labeler: give a name, so that answers can be told apart.")
    size = len(sheet.row(row_id)["responses"])
    if ranking is not None:
        valid = isinstance(ranking, list) and all(
            isinstance(g, list) and g and all(type(i) is int for i in g) for g in ranking
        )
        if not valid or sorted(i for group in ranking for i in group) != list(range(size)):
            raise RecipeError(
                f"row {row_id}: a ranking orders each of its {size} responses once, in non-empty "
                f"groups best first; got {ranking}."
            )
    elif not (skipped or undo):
        raise RecipeError(f"row {row_id}: an answer is a ranking, a skip or an undo.")
    event = {"row": row_id, "labeler": labeler.strip(), "at": time.time()}
    return event | ({"ranking": ranking} if ranking is not None else {"skipped": True} if skipped else {"undo": True})


def append(sheet: Sheet, events: list[dict]) -> None:
    """Append answer events to the log and fsync it, so an answer given is an answer kept."""
    with open(sheet.answers_path, "a", encoding="utf-8") as f:
        f.write("".join(json.dumps(event) + "\n" for event in events))
        f.flush()
        os.fsync(f.fileno())


def current(events: list[dict], labeler: str | None = None) -> dict[tuple[str, str], dict]:
    """{(row, labeler): their standing answer}: the last event on each, undos removed."""
    standing: dict[tuple[str, str], dict] = {}
    for event in events:
        if labeler is None or event["labeler"] == labeler:
            standing[(event["row"], event["labeler"])] = event
    return {key: event for key, event in standing.items() if not event.get("undo")}


def last_answered(events: list[dict], labeler: str) -> str | None:
    """The row of `labeler`'s most recent standing answer (what an undo takes back)."""
    standing = {id(event) for event in current(events, labeler).values()}
    return next((event["row"] for event in reversed(events) if id(event) in standing), None)


def ordered(sheet_row: dict, ranking: list[list[int]]) -> tuple[list[str], str]:
    """(response texts best first, the Ties cell: tied rank positions joined by '=', groups by spaces)."""
    texts, ties, position = [], [], 1
    for group in ranking:
        texts += [sheet_row["responses"][i]["text"] for i in group]
        if len(group) > 1:
            ties.append("=".join(str(position + k) for k in range(len(group))))
        position += len(group)
    return texts, " ".join(ties)


def export(sheet: Sheet, events: list[dict] | None = None) -> Path:
    """Write the rankings file from the standing answers (skips left out); replaced whole, never half-written."""
    events = read_answers(sheet) if events is None else events
    standing = current(events)
    size = sheet.num_responses
    header = ["Prompt", *(f"Rank {i + 1} response" for i in range(size)), TIES_COLUMN, LABELER_COLUMN]
    partial = sheet.rankings_path.with_name(sheet.rankings_path.name + ".partial")
    with open(partial, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="|")
        writer.writerow(header)
        for row in sheet.rows:
            for (row_id, labeler), event in standing.items():
                if row_id == row["id"] and "ranking" in event:
                    texts, ties = ordered(row, event["ranking"])
                    writer.writerow([row["prompt"], *texts, ties, labeler])
    os.replace(partial, sheet.rankings_path)
    return sheet.rankings_path


def progress(sheet: Sheet, events: list[dict], labeler: str) -> dict:
    """How far `labeler` is: rows ranked, skipped, left, and the next row to show (None when done)."""
    standing = current(events, labeler)
    done = {row_id for row_id, _ in standing}
    ranked = sum("ranking" in event for event in standing.values())
    following = next((row for row in sheet.rows if row["id"] not in done), None)
    return {
        "total": len(sheet.rows),
        "ranked": ranked,
        "skipped": len(done) - ranked,
        "next": following["id"] if following else None,
    }


def agreement(events: list[dict]) -> dict:
    """How often two labelers order a pair of responses the same way, over the pairs both ordered strictly
    (every two labelers of a row, every pair of its responses); None when no row has two labelers."""
    by_row: dict[str, dict[str, list]] = {}
    for (row_id, labeler), event in current(events).items():
        if "ranking" in event:
            by_row.setdefault(row_id, {})[labeler] = event["ranking"]
    agree = compared = 0
    for rankings in by_row.values():
        places = [{i: g for g, group in enumerate(r) for i in group} for r in rankings.values()]
        for first, second in combinations(places, 2):
            for i, j in combinations(sorted(first), 2):
                if first[i] != first[j] and second[i] != second[j]:
                    compared += 1
                    agree += (first[i] < first[j]) == (second[i] < second[j])
    labelers = sorted({labeler for rankings in by_row.values() for labeler in rankings})
    return {"labelers": labelers, "pairs": compared, "agreement": agree / compared if compared else None}
