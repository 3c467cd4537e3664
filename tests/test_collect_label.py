"""Collect a ranking sheet from a real policy, rank it with a judge, and read the rankings as the reward stage does."""

import json

import pytest

from rlhf_recipes import cli, reward
from rlhf_recipes.common import files, formats
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.labeling import collect, label
from rlhf_recipes.labeling import sheet as sheets
from rlhf_recipes.quickstart import task
from tests.conftest import QUICKSTART, run_stage, write_jsonl

PROMPTS = ["How was the pizza?", "Describe the hotel.", "Tell me about the song."]


def small_sheet(tmp_path, rows=PROMPTS, responses=("The {t} was great.", "The {t} was dull.", "The {t} was fine.")):
    return sheets.write(
        tmp_path / "sheet.jsonl",
        [
            {"id": f"r{i}", "prompt": p, "responses": [{"text": r.format(t=task.parse_prompt(p))} for r in responses]}
            for i, p in enumerate(rows)
        ],
    )


@pytest.fixture(scope="module")
def collected(tmp_path_factory, tiny_dir, prompts_file):
    output = tmp_path_factory.mktemp("collect") / "sheet.jsonl"
    cli.main(
        [
            "collect",
            "--policy",
            tiny_dir,
            "--prompts",
            str(prompts_file),
            "--output",
            str(output),
            "--num_responses",
            "4",
            "--max_prompts",
            "24",
            "--rows_per_prompt",
            "2",
            "--seed",
            "3",
            "--temperature",
            "1.0",
            "--max_new_tokens",
            "16",
        ]
    )
    return sheets.load(output)


def test_collect_writes_distinct_shuffled_responses_with_their_provenance(collected, tiny_dir):
    rows = collected.rows
    assert 40 <= len(rows) <= 48 and len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        texts = [r["text"] for r in row["responses"]]
        assert len(texts) == 4 == len(set(texts))
        assert all(
            r["policy"] == tiny_dir
            and r["temperature"] == 1.0
            and r["max_new_tokens"] == 16
            and isinstance(r["seed"], int)
            for r in row["responses"]
        )
    first_prompts = [row["prompt"] for row in rows[:10]]
    assert first_prompts != sorted(first_prompts, key=[r["prompt"] for r in rows].index)  # rows are shuffled


def test_a_policy_that_repeats_itself_is_refused_in_one_message(tmp_path, tiny_dir, prompts_file):
    with pytest.raises(RecipeError, match="repeat themselves"):
        collect.main(
            collect.CollectArguments(
                policy=[tiny_dir],
                prompts=str(prompts_file),
                output=str(tmp_path / "s.jsonl"),
                temperature=0.0,
                max_prompts=2,
                max_attempts=2,
            )
        )
    assert not (tmp_path / "s.jsonl").exists()
    with pytest.raises(ValueError, match="a sheet is a .jsonl file"):
        collect.CollectArguments(policy=[tiny_dir], prompts=str(prompts_file), output=str(tmp_path / "s.csv"))


def test_gold_judge_ranks_the_sheet_best_first_with_ties_and_the_reward_stage_reads_it(tmp_path):
    sheet = small_sheet(
        tmp_path, responses=("The {t} was dull.", "The {t} was great.", "The {t} was okay.", "The {t} was fine.")
    )
    summary = label.main(label.LabelArguments(sheet=str(sheet.path), judge="gold"))
    lines = sheet.rankings_path.read_text().splitlines()
    assert lines[0] == "Prompt|Rank 1 response|Rank 2 response|Rank 3 response|Rank 4 response|Ties|Labeler"
    assert (
        lines[1] == "How was the pizza?|The pizza was great.|The pizza was okay.|The pizza was fine.|"
        "The pizza was dull.|2=3|gold"
    )
    pairs = formats.to_preference_pairs(files.load_rows(str(sheet.rankings_path)), str(sheet.rankings_path))
    assert len(pairs) == 3 * 5  # 6 pairs a row, the okay/fine tie left out
    assert summary["labelers"] == ["gold"] and summary["agreement"] is None
    assert label.rank_with_judge(sheet, "gold") == 0  # a rerun ranks nothing twice
    assert len(sheets.read_answers(sheet)) == 3


def test_answers_undo_progress_and_agreement_come_from_the_log(tmp_path):
    sheet = small_sheet(tmp_path)
    sheets.answer(sheet, "r0", "ann", [[0], [2], [1]])
    sheets.answer(sheet, "r1", "ann", skipped=True)
    events = sheets.read_answers(sheet)
    assert sheets.progress(sheet, events, "ann") == {"total": 3, "ranked": 1, "skipped": 1, "next": "r2"}
    assert sheets.last_answered(events, "ann") == "r1"
    sheets.answer(sheet, "r1", "ann", undo=True)
    events = sheets.read_answers(sheet)
    assert sheets.progress(sheet, events, "ann")["next"] == "r1" and sheets.last_answered(events, "ann") == "r0"
    sheets.answer(sheet, "r0", "bob", [[0], [1, 2]])  # agrees on 0 > 2 and 0 > 1; 2 = 1 is no strict pair
    assert sheets.agreement(sheets.read_answers(sheet)) == {"labelers": ["ann", "bob"], "pairs": 2, "agreement": 1.0}
    sheets.export(sheet)
    rows = files.load_rows(str(sheet.rankings_path))
    assert list(rows["Labeler"]) == ["ann", "bob"] and list(rows["Ties"]) == ["", "2=3"]


def test_a_crash_mid_write_loses_only_the_unfinished_line(tmp_path):
    sheet = small_sheet(tmp_path)
    sheets.answer(sheet, "r0", "ann", [[0], [1], [2]])
    with open(sheet.answers_path, "a") as f:
        f.write('{"row": "r1", "labeler": "an')
    assert [e["row"] for e in sheets.read_answers(sheet)] == ["r0"]


@pytest.mark.parametrize(
    "rows, message",
    [
        (["not json"], "line 1 is not JSON"),
        (
            [
                {"id": "a", "prompt": "p", "responses": [{"text": "x"}, {"text": "y"}]},
                {"id": "b", "prompt": "p", "responses": [{"text": "x"}, {"text": "y"}, {"text": "z"}]},
            ],
            "rows hold different numbers of responses \\(2 from row 1, 3 from row 2\\)",
        ),
        ([{"prompt": "p", "chosen": "x", "rejected": "y"}], "line 1 is not a sheet row"),
        ([], "it holds no rows"),
    ],
)
def test_a_file_that_is_not_a_sheet_is_refused_in_one_message(tmp_path, rows, message):
    path = tmp_path / "bad.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    with pytest.raises(RecipeError, match=f"bad.jsonl: not a ranking sheet: {message}"):
        sheets.load(path)


def test_a_bad_answer_is_refused_and_nothing_is_written(tmp_path):
    sheet = small_sheet(tmp_path)
    for ranking in ([[0], [1]], [[0, 0], [1, 2]], [[0], [], [1, 2]]):
        with pytest.raises(RecipeError, match="orders each of its 3 responses once"):
            sheets.answer(sheet, "r0", "ann", ranking)
    with pytest.raises(RecipeError, match="no row 'r9'"):
        sheets.answer(sheet, "r9", "ann", [[0], [1], [2]])
    assert not sheet.answers_path.exists()


def test_a_judge_that_cannot_judge_the_prompts_is_refused(tmp_path):
    path = write_jsonl(
        tmp_path / "sheet.jsonl", [{"id": "a", "prompt": "Say hi.", "responses": [{"text": "hi"}, {"text": "hello"}]}]
    )
    with pytest.raises(RecipeError, match="cannot judge these prompts"):
        label.main(label.LabelArguments(sheet=str(path), judge="gold"))


@pytest.mark.slow
def test_a_reward_stage_trains_on_the_labelled_sheet_unchanged(tmp_path, tiny_dir):
    """A sheet of the built-in task's drafts (shuffled, so the order says nothing), ranked by the gold judge."""
    rows = task.ranking_rows(task.split_prompts()[0], 200, 4, seed=5)
    sheet = sheets.write(
        tmp_path / "sheet.jsonl",
        [
            {
                "id": f"r{i}",
                "prompt": row["prompt"],
                "responses": [{"text": text} for text in reversed(row["responses"])],
            }
            for i, row in enumerate(rows)
        ],
    )
    label.main(label.LabelArguments(sheet=str(sheet.path), judge="gold"))
    trainer = run_stage(
        reward,
        QUICKSTART / "reward.yaml",
        "--model_name_or_path",
        tiny_dir,
        "--dataset_name",
        str(sheet.rankings_path),
        "--output_dir",
        str(tmp_path / "reward"),
        "--eval_steps",
        "10",
        "--logging_steps",
        "5",
    )
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) >= 4 and losses[-1] < losses[0]
    assert (tmp_path / "reward" / "merged" / "config.json").exists()


def test_rounds_need_their_yaml_and_valid_starts(tmp_path):
    from rlhf_recipes.common.parsing import RecipeParser, parse
    from rlhf_recipes.rounds import RoundsArguments, run_rounds

    with pytest.raises(RecipeError, match="no rounds.yaml; --rounds needs one"):
        run_rounds(tmp_path, tmp_path / "out", 2)
    (tmp_path / "rounds.yaml").write_text("prompts: p.csv\nprobe_prompts: q.csv\npolicy_start: best\n")
    with pytest.raises(RecipeError, match="policy_start: expected one of \\('sft', 'last'\\), got 'best'"):
        parse(RecipeParser((RoundsArguments,)), ["--config", str(tmp_path / "rounds.yaml")])
    with pytest.raises(SystemExit):
        cli.main(["pipeline", str(QUICKSTART), "--rounds", "2"])  # no --output-dir: each round needs a folder


def test_the_shipped_rounds_yaml_parses_into_its_settings():
    from rlhf_recipes.common.parsing import RecipeParser, parse
    from rlhf_recipes.rounds import ROUNDS_FILE, RoundsArguments

    (args,) = parse(RecipeParser((RoundsArguments,)), ["--config", str(QUICKSTART / ROUNDS_FILE)])
    assert args.judge == "gold" and args.method_overrides == ["--kl_coef", "0.1"] and args.rows_per_prompt == 32
    assert (QUICKSTART.parents[1] / args.prompts).exists() and (QUICKSTART.parents[1] / args.probe_prompts).exists()


def test_collect_and_label_name_a_missing_policy_or_sheet(tmp_path, prompts_file, capsys):
    with pytest.raises(SystemExit):
        cli.main(
            [
                "collect",
                "--policy",
                str(tmp_path / "no-model"),
                "--prompts",
                str(prompts_file),
                "--output",
                str(tmp_path / "sheet.jsonl"),
            ]
        )
    assert "policy: " in capsys.readouterr().err and not (tmp_path / "sheet.jsonl").exists()
    with pytest.raises(SystemExit):
        cli.main(["label", str(tmp_path / "sheet.jsonl"), "--judge", "gold"])
    assert "sheet.jsonl: no such sheet; make one with `rlhf-recipes collect`." in capsys.readouterr().err


def test_a_reward_model_ranks_a_sheet_as_its_scores_order_the_responses(tmp_path, trained_reward):
    from rlhf_recipes.common.reward_model import RewardModel

    _, reward_dir = trained_reward
    sheet = small_sheet(tmp_path)
    spec = f"reward:{reward_dir}"
    label.main(label.LabelArguments(sheet=str(sheet.path), judge=spec))
    model = RewardModel(str(reward_dir / "merged"))
    for row, event in zip(sheet.rows, sheets.read_answers(sheet)):
        scores = model.score([row["prompt"]] * 3, [r["text"] for r in row["responses"]])
        assert event["labeler"] == spec
        assert [i for group in event["ranking"] for i in group] == sorted(range(3), key=lambda i: -scores[i])
