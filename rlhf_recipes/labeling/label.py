"""Label: rank a sheet's responses, by a person on a local page or by a judge, into the reward stage's file
(`rlhf-recipes label SHEET [--judge gold | reward:PATH]`; docs/human-in-the-loop.md, "The loop, by hand")."""

from dataclasses import dataclass, field
from itertools import groupby

from rlhf_recipes.common.logs import CONSOLE, get_logger
from rlhf_recipes.common.parsing import RecipeParser
from rlhf_recipes.labeling import sheet as sheets

logger = get_logger(__name__)


@dataclass
class LabelArguments:
    """Which sheet, and who ranks it."""

    sheet: str = field(metadata={"help": "The sheet `rlhf-recipes collect` wrote (.jsonl)."})
    judge: str | None = field(
        default=None,
        metadata={
            "help": "Rank with a judge instead of a person: a registered judge (`gold` on the "
            "built-in task) or reward:PATH. Default: serve the labeling page."
        },
    )
    host: str = field(default="127.0.0.1", metadata={"help": "The page's address; only this machine by default."})
    port: int = field(default=8765, metadata={"help": "The page's port."})


def main(args: LabelArguments) -> dict:
    """Rank the sheet (judge) or serve the page until stopped; returns the labelers' progress and agreement."""
    sheet = sheets.load(args.sheet)
    if args.judge:
        rank_with_judge(sheet, args.judge)
    else:
        from rlhf_recipes.labeling import server

        server.serve(sheet, args.host, args.port)
    events = sheets.read_answers(sheet)
    path = sheets.export(sheet, events)
    summary = sheets.agreement(events)
    logger.info(
        f"label: {sum('ranking' in e for e in sheets.current(events).values())} rankings of "
        f"{len(sheet.rows)} rows in {path}; labelers {summary['labelers']}, agreement {summary['agreement']} "
        f"over {summary['pairs']} pairs.",
        extra=CONSOLE,
    )
    return summary | {"rankings": str(path)}


def rank_with_judge(sheet: sheets.Sheet, spec: str) -> int:
    """Rank the rows `spec` has not ranked yet by the judge's scores (best first, equal scores tied); returns how
    many it ranked."""
    from accelerate import PartialState  # torch and the models: not needed to serve the page

    from rlhf_recipes.evaluation import judges

    done = {row_id for row_id, _ in sheets.current(sheets.read_answers(sheet), spec)}
    todo = [row for row in sheet.rows if row["id"] not in done]
    if not todo:
        return 0
    (judge,) = judges.load([spec], [row["prompt"] for row in sheet.rows], PartialState().device)
    prompts = [row["prompt"] for row in todo for _ in row["responses"]]
    scores = judge.judge(prompts, [r["text"] for row in todo for r in row["responses"]]).scores
    events, size = [], sheet.num_responses
    for n, row in enumerate(todo):
        mine = scores[n * size : (n + 1) * size]
        best_first = sorted(range(size), key=lambda i: -mine[i])
        ranking = [list(group) for _, group in groupby(best_first, key=lambda i: mine[i])]
        events.append(sheets.make_answer(sheet, row["id"], spec, ranking))
    sheets.append(sheet, events)
    logger.info(f"label: {judge.label} ranked {len(todo)} rows of {sheet.path}.", extra=CONSOLE)
    return len(todo)


def make_parser() -> RecipeParser:
    return RecipeParser((LabelArguments,))
