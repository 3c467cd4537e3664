"""What a stage is, declared once in its own module (`STAGE = Stage(...)`): the pipeline, the CLI's help and the plots
read it (docs/methods.md, "Adding a method")."""

from collections.abc import Callable
from dataclasses import dataclass, field

SFT, REWARD = "sft", "reward"  # the earlier outputs a stage can start from


@dataclass(frozen=True)
class Stage:
    """One stage: how to run it and how it chains to the stages before it."""

    name: str
    summary: str  # one line: what it trains, for the CLI's help
    make_parser: Callable
    main: Callable
    reads: dict[str, str] = field(default_factory=dict)  # earlier output -> the option that receives its folder
    curves: dict[str, str] = field(default_factory=dict)  # logged key -> label, plotted as <name>_training.png

    @property
    def plot_file(self) -> str:
        return f"{self.name}_training.png"

    def chained(self, folders: dict[str, str]) -> list[str]:
        """Command-line overrides that write this stage into `folders[name]` and read the earlier ones there."""
        overrides = ["--output_dir", folders[self.name]]
        for earlier, option in self.reads.items():
            overrides += [option, folders[earlier]]
        return overrides
