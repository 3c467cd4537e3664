"""PNG plots of training logs and score distributions (matplotlib, no display needed)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_curves(log_history: list[dict], keys: dict[str, str], path: str | Path, title: str) -> Path | None:
    """One panel per logged key ({key: label}) against the training step; None if nothing was logged."""
    series = {
        key: [(entry["step"], entry[key]) for entry in log_history if key in entry and "step" in entry] for key in keys
    }
    series = {key: points for key, points in series.items() if points}
    if not series:
        return None
    figure, axes = plt.subplots(1, len(series), figsize=(4.5 * len(series), 3.5), squeeze=False)
    for axis, (key, points) in zip(axes[0], series.items()):
        steps, values = zip(*points)
        axis.plot(steps, values, marker="o" if len(points) < 30 else None)
        axis.set(xlabel="step", title=keys[key])
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)


def plot_distributions(samples: dict[str, list[float]], path: str | Path, title: str, xlabel: str) -> Path:
    """Overlaid histograms of one score for several models."""
    figure, axis = plt.subplots(figsize=(6, 3.5))
    for label, values in samples.items():
        axis.hist(values, bins=20, alpha=0.5, label=label)
    axis.set(xlabel=xlabel, ylabel="responses", title=title)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)


def plot_tradeoff(points: dict[str, tuple[float, float]], path: str | Path, ylabel: str) -> Path:
    """One labelled point per policy: its win rate against SFT over its KL to SFT."""
    figure, axis = plt.subplots(figsize=(5.5, 4))
    for name, (kl, win) in points.items():
        axis.scatter(kl, win, s=60)
        axis.annotate(name, (kl, win), textcoords="offset points", xytext=(6, 4))
    axis.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    axis.set(
        xlabel="KL to SFT (nats per response)",
        ylabel=ylabel,
        title="What each method bought, and at what KL",
        ylim=(0, 1),
    )
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)


def plot_stage(stage, log_history: list[dict], output_dir: str | Path) -> Path | None:
    """A stage's training curves (the `curves` its `Stage` declares) into `output_dir`; None if it declares none."""
    if not stage.curves:
        return None
    return plot_curves(log_history, stage.curves, Path(output_dir) / stage.plot_file, f"{stage.name} training")
