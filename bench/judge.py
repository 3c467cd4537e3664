"""How far can a second reward model stand in for a person? Its agreement with the gold labeler, on the built-in task.

    python -m bench.judge [--seeds 3] [--work-dir DIR]

Per seed: the quickstart pipeline (SFT -> reward -> PPO; complete stages in `--work-dir` are kept),
then second reward models trained like the first but on rankings PPO was not optimized against: a
fresh draw of as many rankings (other labelers' rankings of other samples) and of half as many. Then
the report judges PPO against SFT with the gold labeler first and the reward models after it
(`--judge auto reward:PATH ...`; the optimized one too, for comparison): each one's win rate, and how
often it prefers the same response of a (PPO, SFT) pair as the gold labeler (`<judge>_agreement`). Prints the table; writes bench/JUDGE.json.
"""

import argparse
import csv
import json
import statistics
import tempfile
from pathlib import Path

from rlhf_recipes.evaluation import tables

BENCH = Path(__file__).resolve().parent
RECIPES = BENCH.parent / "recipes" / "quickstart"
SEEDS = (42, 1, 2, 3, 4)
SECOND = {"other rankings": 1500, "half as many": 750}  # rankings the second reward models learn from
DATA_SEED = 1000  # + the run's seed: rankings drawn apart from the shipped ones (task.write_data uses seed 2)


def write_rankings(path: Path, rows: int, seed: int) -> Path:
    """`rows` K-way rankings of the training prompts, as the quickstart's rankings.csv holds them."""
    from rlhf_recipes.quickstart import task

    with open(path, "w", newline="") as f:
        writer = csv.writer(f, delimiter="|")
        writer.writerow(["Prompt"] + [f"Rank {i + 1} response" for i in range(task.RANKING_K)])
        train, _ = task.split_prompts()
        writer.writerows([r["prompt"], *r["responses"]] for r in task.ranking_rows(train, rows, task.RANKING_K, seed))
    return path


def run_seed(seed: int, folder: Path) -> dict:
    """The pipeline, the second reward models and the report with every judge, for one seed."""
    from rlhf_recipes import reward
    from rlhf_recipes.common import artifacts
    from rlhf_recipes.common.parsing import parse
    from rlhf_recipes.evaluation import report
    from rlhf_recipes.pipeline import run_pipeline

    run_pipeline(RECIPES, folder, seed=seed)
    judges = [("the optimized one", folder / "reward")]  # for comparison: the reward model PPO was optimized against
    for index, (name, rows) in enumerate(SECOND.items()):
        out = folder / f"judge-reward-{index}"
        if not artifacts.is_complete(out):
            data = write_rankings(folder / f"rankings-{index}.csv", rows, DATA_SEED + seed + index)
            reward.main(
                *parse(
                    reward.make_parser(),
                    [
                        "--config",
                        str(RECIPES / "reward.yaml"),
                        "--seed",
                        str(seed),
                        "--model_name_or_path",
                        str(folder / "sft"),
                        "--dataset_name",
                        str(data),
                        "--output_dir",
                        str(out),
                    ],
                )
            )
        judges.append((name, out))
    (args,) = parse(
        report.make_parser(),
        [
            "--config",
            str(RECIPES / "report.yaml"),
            "--seed",
            str(seed),
            "--policy",
            str(folder / "ppo"),
            "--reference",
            str(folder / "sft"),
            "--reward_model",
            str(folder / "reward"),
            "--output_dir",
            str(folder / "judged"),
            "--judge",
            "auto",
            *(f"reward:{out}" for _, out in judges),
        ],
    )
    figures = report.main(args)["policy_vs_reference"]
    row = {
        "seed": seed,
        "gold_win_rate": figures["gold_win_rate"],
        "reward_model_win_rate": figures["win_rate_reward_model"],
    }
    for key, (name, out) in zip(("judge", "judge2", "judge3"), judges):
        accuracy = artifacts.read_json(out / artifacts.EVAL_FILE)["eval_accuracy"]
        row[name] = {
            "rm_accuracy": accuracy,
            "win_rate": figures[f"{key}_win_rate"],
            "agreement": figures[f"{key}_agreement"],
        }
    return row


def table(rows: list[dict]) -> str:
    def span(values, fmt):
        return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"

    cells = [
        [
            name,
            span([r[name]["rm_accuracy"] for r in rows], "{:.3f}"),
            span([r[name]["agreement"] for r in rows], "{:.1%}"),
            f"{span([r[name]['win_rate'] for r in rows], '{:.1%}')} "
            f"({span([r['gold_win_rate'] for r in rows], '{:.1%}')})",
        ]
        for name in ("the optimized one", *SECOND)
    ]
    header = ["reward model as judge", "its held-out accuracy", "agrees with gold", "its win rate (gold's)"]
    return "\n".join(tables.markdown(header, cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help=f"runs (seeds {', '.join(map(str, SEEDS[:3]))}, ...)")
    parser.add_argument("--work-dir", type=Path, help="where the runs go (default: a temporary folder)")
    parser.add_argument("--output", type=Path, default=BENCH / "JUDGE.json")
    args = parser.parse_args()
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="judge-"))
    rows = [run_seed(seed, work_dir / f"seed{seed}") for seed in SEEDS[: args.seeds]]
    args.output.write_text(json.dumps(rows, indent=2) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
