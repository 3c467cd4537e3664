import filecmp
import random

import pytest

from rlhf_recipes.quickstart import task
from tests.conftest import QUICKSTART


def test_held_out_prompts_are_disjoint_and_cover_every_topic():
    train, held_out = task.split_prompts()
    assert len(held_out) >= 64
    assert not set(train) & set(held_out)
    assert {task.parse_prompt(p) for p in train} == set(task.TOPICS)
    assert {task.parse_prompt(p) for p in held_out} == set(task.TOPICS)


@pytest.mark.parametrize(
    "response, score, reason",
    [
        ("The pizza was great, lovely and superb.", 1.0, "ok"),
        ("The pizza was great and awful.", 0.0, "ok"),
        ("The pizza was dull.", -1 / 3, "ok"),
        ("The movie was great.", -1.0, "off-topic"),
        ("The pizza was great, great and great.", -1.0, "repetition"),
        ("The pizza was great, lovely, superb and charming.", -1.0, "rambling"),
        ("The pizza was great and lovely and superb and", -1.0, "never ends"),
        ("The pizza was tasty.", -1.0, "unknown word"),
        ("", -1.0, "not a review"),
    ],
)
def test_gold_labeler_scores_content_and_rejects_hacks(response, score, reason):
    judgement = task.judge("Write a review of the pizza.", response)
    assert judgement.score == pytest.approx(score)
    assert judgement.reason == reason
    assert judgement.well_formed == (reason == "ok")


def test_rankings_are_strictly_ordered_by_gold_score():
    rng = random.Random(0)
    prompt = task.split_prompts()[0][0]
    for _ in range(50):
        ranked = task.ranked_responses(prompt, 4, rng)
        scores = [task.score(prompt, r) for r in ranked]
        assert scores == sorted(scores, reverse=True) and len(set(scores)) == 4


def test_demonstrations_are_well_formed_but_leave_room_to_improve():
    rows = task.sft_rows(task.split_prompts()[0], 500, seed=0)
    judgements = [task.judge(r["prompt"], r["response"]) for r in rows]
    assert len(judgements) == 500 and all(j.well_formed for j in judgements)
    assert 0.0 < sum(j.score for j in judgements) / len(rows) < 0.3


def test_shipped_quickstart_data_is_what_the_generator_writes(tmp_path):
    task.write_data(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    match, mismatch, errors = filecmp.cmpfiles(tmp_path, QUICKSTART / "data", names, shallow=False)
    assert match == names, f"regenerate with task.write_data: {mismatch + errors}"
