"""Tables: the report's figures (key, label, format) and the one writer of any table of cells, as Markdown or terminal
text, for report.md, the terminal summary, rounds.md and the bench tables (docs/outputs.md, "The report")."""

from collections.abc import Sequence
from dataclasses import dataclass

MISSING = "–"  # a figure not measured
REFERENCE = "reference"  # the reference's name among the report's models (examples, reward scores)


def cell(value, fmt: str) -> str:
    """`value` in `fmt` ("{:.1%}"), or MISSING for None."""
    return MISSING if value is None else fmt.format(value)


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    fmt: str

    def cell(self, value) -> str:
        return cell(value, self.fmt)

    @property
    def reference(self) -> "Figure | None":
        """The reference's twin of a `_policy` figure, or None (win rates and KL are against the reference)."""
        if not self.key.endswith("_policy"):
            return None
        return Figure(self.key.removesuffix("_policy") + "_reference", f"{self.label} (SFT)", self.fmt)


REWARD_MODEL = (
    Figure("reward_mean_policy", "reward model: mean", "{:.3f}"),
    Figure("win_rate_reward_model", "reward model: win", "{:.1%}"),
)
DRIFT = (
    Figure("kl_mean", "KL to SFT", "{:.2f}"),
    Figure("length_mean_policy", "length", "{:.1f}"),
    Figure("repeated_word_rate_policy", "repeats a word", "{:.1%}"),
    Figure("repetition_rate_policy", "repeated n-grams", "{:.3f}"),
    Figure("lm_loss_policy", "LM loss, plain text", "{:.3f}"),
    Figure("alignment_tax", "alignment tax", "{:+.3f}"),
)
COSTS = (Figure("stage_s", "stage s", "{:.0f}"), Figure("peak_memory_mb", "peak MB", "{:.0f}"))


def judge_figures(name: str, rates: list[str] = (), first: str | None = None) -> tuple[Figure, ...]:
    """A judge's figures: its mean, its win rate, the rates it reports, and (for a later judge) its agreement with
    the `first` judge."""
    found = [
        Figure(f"{name}_mean_policy", f"{name}: mean", "{:+.3f}"),
        Figure(f"{name}_win_rate", f"{name}: win", "{:.1%}"),
    ]
    found += [Figure(f"{name}_{rate}_policy", f"{name}: {rate.replace('_', '-')}", "{:.1%}") for rate in rates]
    if first is not None:
        found.append(Figure(f"{name}_agreement", f"{name}: agrees with {first}", "{:.1%}"))
    return tuple(found)


def first_judge(report: dict) -> dict | None:
    """The report's first judge ({"name", "label", "rates"}), whose verdict decides `reward_hacking`; None if none."""
    return (report.get("judges") or [None])[0]


def report_figures(report: dict, costs: bool = True) -> list[Figure]:
    """The figures of a report's table: the reward model's, each judge's, the drift, and (`costs`) the stage costs;
    only those some policy has."""
    first = (first_judge(report) or {}).get("name")
    chosen = [*REWARD_MODEL]
    for judge in report.get("judges", []):
        chosen += judge_figures(judge["name"], judge["rates"], None if judge["name"] == first else first)
    chosen += [*DRIFT, *(COSTS if costs else ())]
    return [f for f in chosen if any(m.get(f.key) is not None for m in report["methods"].values())]


def _report_rows(report: dict, figures: list[Figure]) -> list[tuple[str, list[str]]]:
    """(row label, cells) of the reference and each policy."""
    first = report["policy_vs_reference"]
    reference = [f.reference.cell(first.get(f.reference.key)) if f.reference else MISSING for f in figures]
    return [("SFT (reference)", reference)] + [
        (name, [f.cell(values.get(f.key)) for f in figures]) for name, values in report["methods"].items()
    ]


def report_markdown(report: dict) -> list[str]:
    """The report's table in Markdown: a row per model, a column per figure."""
    figures = report_figures(report)
    return markdown(
        ["", *(f.label for f in figures)], [[label, *cells] for label, cells in _report_rows(report, figures)]
    )


def report_terminal(report: dict) -> list[str]:
    """The report's table for a terminal: a row per figure, a column per model (SFT first)."""
    figures = report_figures(report, costs=False)
    columns = list(zip(*(cells for _, cells in _report_rows(report, figures))))
    return terminal(["", "SFT", *report["methods"]], [[f.label, *cells] for f, cells in zip(figures, columns)])


def markdown(header: Sequence, rows: list[Sequence]) -> list[str]:
    """A Markdown table, a line per row: the header, the separator, then `rows`. A `|` or a line break in a cell is
    escaped; an empty cell stays empty."""
    return [_markdown_line(header), _markdown_line(["---"] * len(header))] + [_markdown_line(row) for row in rows]


def _markdown_line(cells: Sequence) -> str:
    escaped = (str(text).replace("|", "\\|").replace("\n", " ") for text in cells)
    return "|" + "".join(f" {text} |" if text else " |" for text in escaped)


def terminal(header: Sequence, rows: list[Sequence], first_width: int = 28, width: int = 10) -> list[str]:
    """A table for a terminal, a line per row: the first column left-aligned, the others right-aligned."""
    return [f"{row[0]:<{first_width}}" + "".join(f"{text:>{width}}" for text in row[1:]) for row in [header, *rows]]
