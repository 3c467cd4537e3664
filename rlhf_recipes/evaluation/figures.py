"""The figures of a policy against the reference, in one table: report.md, the terminal summary and the
bench tables all render from it.

A figure is a key of a policy's figures (`report.compare`), a label and a format. A key ending in
`_policy` has a `_reference` twin: the reference's own figure, its row of the table. Each judge adds
its figures, named after it (`judge_figures`).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    fmt: str

    def cell(self, value) -> str:
        return "–" if value is None else self.fmt.format(value)

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


def table(report: dict, costs: bool = True) -> list[Figure]:
    """The figures of a report's table: the reward model's, each judge's, the drift, and (`costs`) the stage costs;
    only those some policy has."""
    first = (first_judge(report) or {}).get("name")
    chosen = [*REWARD_MODEL]
    for judge in report.get("judges", []):
        chosen += judge_figures(judge["name"], judge["rates"], None if judge["name"] == first else first)
    chosen += [*DRIFT, *(COSTS if costs else ())]
    return [f for f in chosen if any(m.get(f.key) is not None for m in report["methods"].values())]


def rows(report: dict, figures: list[Figure]) -> list[tuple[str, list[str]]]:
    """(row label, cells) of the reference and each policy."""
    first = report["policy_vs_reference"]
    reference = [f.reference.cell(first.get(f.reference.key)) if f.reference else "–" for f in figures]
    return [("SFT (reference)", reference)] + [
        (name, [f.cell(values.get(f.key)) for f in figures]) for name, values in report["methods"].items()
    ]


def markdown(report: dict) -> list[str]:
    """The report's table in Markdown: a row per model, a column per figure."""
    figures = table(report)
    lines = ["| | " + " | ".join(f.label for f in figures) + " |", "| --- |" + " --- |" * len(figures)]
    return lines + [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows(report, figures)]


def terminal(report: dict) -> list[str]:
    """The report's table for a terminal: a row per figure, a column per model (SFT first)."""
    figures = table(report, costs=False)
    columns = list(zip(*(cells for _, cells in rows(report, figures))))
    lines = [f"{'':<28}{'SFT':>10}" + "".join(f"{name:>10}" for name in report["methods"])]
    return lines + [f"{f.label:<28}" + "".join(f"{cell:>10}" for cell in cells) for f, cells in zip(figures, columns)]
