"""The built-in task's gold labeler as the report's judge (registered as `gold`: see pyproject's entry points)."""

from rlhf_recipes.evaluation.judges import Judged
from rlhf_recipes.quickstart import task


class GoldJudge:
    """The simulated human rater of the built-in task: a score in [-1, 1] per response, and why."""

    name = "gold"
    label = "gold labeler"

    def can_judge(self, prompts: list) -> bool:
        return all(task.is_task_prompt(p) for p in prompts)

    def judge(self, prompts: list, responses: list[str]) -> Judged:
        summary = task.gold_summary(prompts, responses)
        return Judged(
            summary["scores"], {"well_formed": summary["well_formed_rate"]}, {"verdicts": summary["verdicts"]}
        )
