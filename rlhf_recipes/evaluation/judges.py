"""The report's judges besides the optimized reward model, from the `--judge` specs (auto, a registered name,
`reward:PATH`, `classifier:PATH:LABEL`); what each is and why: docs/task.md, "Who judges the policy"."""

from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pkgutil import resolve_name
from typing import Protocol

from rlhf_recipes.common import artifacts
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.reward_model import LabelScore, RewardModel

BUILT_IN = {"gold": "rlhf_recipes.quickstart.gold_judge:GoldJudge"}  # name -> a Judge class, made without arguments
JUDGES = "rlhf_recipes.judges"  # the entry point group where other packages add theirs, the same way
AUTO = "auto"


@dataclass
class Judged:
    """A judge's scores of a batch of responses, and what else it reports about them."""

    scores: list[float]
    rates: dict[str, float] = field(default_factory=dict)  # shares of the responses, e.g. {"well_formed": 0.9}
    details: dict = field(default_factory=dict)  # anything else for report.json, e.g. verdict counts


class Judge(Protocol):
    name: str  # the report's figures are named after it: <name>_win_rate, <name>_mean_policy, ...
    label: str  # how the report calls it

    def can_judge(self, prompts: list) -> bool: ...

    def judge(self, prompts: list, responses: list[str]) -> Judged: ...


class RewardModelJudge:
    """A reward model as a judge (`reward:PATH`): one the policy was not optimized against."""

    def __init__(self, path: str, name: str, device=None):
        self.name, self.label = name, f"reward model {path}"
        self.model = RewardModel(artifacts.model_folder(path, "judge"), "judge", device=device)

    def can_judge(self, prompts: list) -> bool:
        return True

    def judge(self, prompts: list, responses: list[str]) -> Judged:
        return Judged(self.model.score(prompts, responses))


class ClassifierJudge:
    """One label of a text classifier as a judge (`classifier:PATH:LABEL`): the label's probability."""

    def __init__(self, path: str, label: str, name: str, device=None):
        self.name, self.label = name, f"classifier {path} ({label})"
        self.classifier = LabelScore(path, label, "probability", device, field="judge")

    def can_judge(self, prompts: list) -> bool:
        return True

    def judge(self, prompts: list, responses: list[str]) -> Judged:
        return Judged(self.classifier.score(prompts, responses))


def registered() -> dict[str, str]:
    """{name: "module:Class"} of the judges: this package's, then those other packages register."""
    return BUILT_IN | {point.name: point.value for point in entry_points(group=JUDGES) if point.name not in BUILT_IN}


def load(specs: list[str], prompts: list, device=None) -> list[Judge]:
    """The judges `specs` name (docs/task.md, "Who judges the policy"), for these prompts; the ones given by a path
    are named `judge`, `judge2`, ..."""
    found, judges = registered(), []
    for spec in specs:
        kind, _, rest = spec.partition(":")
        numbered = sum(isinstance(j, (RewardModelJudge, ClassifierJudge)) for j in judges) + 1
        name = "judge" if numbered == 1 else f"judge{numbered}"
        if spec == AUTO:
            judges += [judge for judge in (resolve_name(cls)() for cls in found.values()) if judge.can_judge(prompts)]
        elif kind == "reward" and rest:
            judges.append(RewardModelJudge(rest, name, device))
        elif kind == "classifier" and ":" in rest:
            path, label = rest.rsplit(":", 1)
            judges.append(ClassifierJudge(path, label, name, device))
        elif spec in found:
            judge = resolve_name(found[spec])()
            if not judge.can_judge(prompts):
                raise RecipeError(f"judge {spec!r} cannot judge these prompts (it judges only its own task's).")
            judges.append(judge)
        else:
            raise RecipeError(
                f"judge {spec!r}: expected {AUTO}, reward:PATH, classifier:PATH:LABEL or a registered "
                f"judge ({', '.join(found) or 'none registered'})."
            )
    names = [judge.name for judge in judges]
    if len(set(names)) < len(names):
        raise RecipeError(f"judge: {names} names one judge twice; give each once.")
    return judges


def agreement(
    first: list[float], second: list[float], first_reference: list[float], second_reference: list[float]
) -> float | None:
    """How often `second` prefers the same response of each (policy, reference) pair as `first` does, over the pairs
    where `first` has a preference (a tie by `second` counts half); None when `first` has none."""
    votes = []
    for a, b, ra, rb in zip(first, second, first_reference, second_reference):
        if a != ra:
            votes.append(0.5 if b == rb else float((a > ra) == (b > rb)))
    return sum(votes) / len(votes) if votes else None
