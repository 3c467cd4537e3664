from pathlib import Path

import pytest

from rlhf_recipes import methods, reward, sft
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.parsing import parse
from rlhf_recipes.evaluation import report
from tests.conftest import REPO

STAGE_PARSERS = {
    "sft": sft.make_parser,
    "reward": reward.make_parser,
    "report": report.make_parser,
    **{name: stage.make_parser for name, stage in methods.available().items()},
}
RECIPE_FILES = sorted(p for p in (REPO / "recipes").rglob("*.yaml") if p.stem.split("_")[0] in STAGE_PARSERS)


def test_there_are_recipes_to_parse():
    assert any(p.parent.name == "quickstart" and p.stem == "sft" for p in RECIPE_FILES)


@pytest.mark.parametrize("path", [pytest.param(p, id=str(p.relative_to(REPO))) for p in RECIPE_FILES])
def test_every_recipe_parses_with_its_stage_parser(path: Path):
    parsed = parse(STAGE_PARSERS[path.stem.split("_")[0]](), ["--config", str(path)])
    if path.stem.startswith("report"):
        assert parsed[0].policy and parsed[0].prompts
    elif path.stem.startswith("ppo"):
        assert parsed[1].sft_model_path and parsed[1].reward_model_path and parsed[0].dataset_name
    elif path.stem in ("rloo", "grpo"):
        assert parsed[2].model_name_or_path and parsed[0].reward_model_path
        assert parsed[1].beta > 0 or path.parent.name == "quickstart-reward-hacking"  # KL to SFT, except on purpose
    else:
        assert parsed[2].model_name_or_path and parsed[0].dataset_name and parsed[1].output_dir


def test_reward_recipes_default_to_a_sequence_classification_adapter():
    _, _, model_args = parse(reward.make_parser(), ["--config", str(REPO / "recipes/quickstart/reward.yaml")])
    assert model_args.lora_task_type == "SEQ_CLS"


def quickstart_args(*overrides):
    return parse(sft.make_parser(), ["--config", str(REPO / "recipes/quickstart/sft.yaml"), *overrides])


def test_command_line_beats_yaml_beats_default():
    script_args, training_args, model_args = quickstart_args("--learning_rate", "0.5")
    assert training_args.learning_rate == 0.5  # command line
    assert model_args.lora_r == 16  # YAML (TRL's default is 16 too, so check a YAML-only value as well)
    assert training_args.num_train_epochs != 3.0 and training_args.logging_steps == 25


def test_unknown_yaml_key_is_an_error_with_a_suggestion(tmp_path):
    config = tmp_path / "sft.yaml"
    config.write_text("model_name_or_path: builtin:tiny\nlearnig_rate: 0.1\n")
    with pytest.raises(
        RecipeError, match=r"Unknown key `learnig_rate` in the config file .*did you mean `learning_rate`"
    ):
        parse(sft.make_parser(), ["--config", str(config)])


def test_unknown_command_line_flag_is_an_error():
    with pytest.raises(RecipeError, match=r"Unknown key `lora_rank` in the command line"):
        quickstart_args("--lora_rank", "8")


def test_missing_config_file_is_named():
    with pytest.raises(RecipeError, match="config file 'nope.yaml' does not exist"):
        parse(sft.make_parser(), ["--config", "nope.yaml"])


def test_precision_follows_the_hardware_on_cpu():
    _, training_args, _ = quickstart_args()
    assert not training_args.bf16 and not training_args.fp16


def test_bf16_requested_on_cpu_is_explained():
    with pytest.raises(RecipeError, match="bf16: true was set, but this machine has no GPU with bf16"):
        quickstart_args("--bf16", "true")


def test_column_mapping_from_the_command_line_is_json():
    script_args, _, _ = quickstart_args("--column_mapping", '{"question": "prompt"}')
    assert script_args.column_mapping == {"question": "prompt"}
    with pytest.raises(RecipeError, match="column_mapping: expected a JSON object"):
        quickstart_args("--column_mapping", "question=prompt")


def test_prompt_template_needs_its_placeholder():
    with pytest.raises(RecipeError, match=r"prompt_template: 'Question:' has no \{prompt\} placeholder"):
        quickstart_args("--prompt_template", "Question:")


@pytest.mark.parametrize(
    "stage, yaml, messages",
    [
        (
            "reward",
            "model_name_or_path: builtin:tiny\nlearnig_rate: 0.1\neval_fraction: 1.5\nuse_peft: true\n"
            "lora_task_type: CAUSAL_LM\n",
            [
                "Unknown key `learnig_rate`",
                r"eval_fraction: expected a number in [0, 1), got 1.5",
                "lora_task_type: a reward model needs SEQ_CLS",
            ],
        ),
        pytest.param(
            "ppo",
            "model_name_or_path: builtin:tiny\nuse_peft: false\nprompt_template: 'Q:'\n"
            "sft_model_path: x\nreward_model_path: y\n",
            [
                "model_name_or_path: PPO starts from `sft_model_path`",
                "use_peft: false is not supported",
                "prompt_template: 'Q:' has no {prompt} placeholder",
            ],
        ),
    ],
)
def test_every_mistake_in_a_yaml_is_reported_in_one_error(tmp_path, stage, yaml, messages):
    config = tmp_path / f"{stage}.yaml"
    config.write_text(yaml)
    with pytest.raises(RecipeError) as caught:
        parse(STAGE_PARSERS[stage](), ["--config", str(config)])
    assert str(caught.value).startswith(f"config file {config}: ")
    for message in messages:
        assert message in str(caught.value)
