"""How a prompt is shown to a model: decided once, saved with the model, read back by every later user."""

import pytest

from rlhf_recipes import sft
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.parsing import parse
from rlhf_recipes.common.prompts import PromptFormat, choose_format, model_format, saved_format
from tests.conftest import QUICKSTART

TEMPLATE = "Question: {prompt}\nAnswer:\n"


def sft_args(*overrides):
    script_args, _, _ = parse(sft.make_parser(), ["--config", str(QUICKSTART / "sft.yaml"), *overrides])
    return script_args


@pytest.mark.parametrize("chat", [True, False])
def test_the_policy_reads_the_prompt_the_reward_model_scores(chat, chat_tokenizer, plain_tokenizer):
    """PPO rolls out from `encode(prompt)`; the reward model scores `render(prompt, response)`: one begins the other."""
    tokenizer, shown = (
        (chat_tokenizer, PromptFormat(chat=True)) if chat else (plain_tokenizer, PromptFormat(False, TEMPLATE))
    )
    prompt, response = "Describe the pizza.", "The pizza was great."
    rendered = shown.render(tokenizer, prompt, response)
    assert rendered.startswith(tokenizer.decode(shown.encode(tokenizer, prompt)))
    assert response in rendered and (chat or rendered.startswith("Question: Describe the pizza.\nAnswer:\n"))
    unfinished = shown.render(tokenizer, prompt, response, finished=False)  # cut at the length limit: left open
    assert rendered.startswith(unfinished) and unfinished.endswith(response)


def test_the_format_is_chosen_from_the_settings_and_the_tokenizer(tmp_path, chat_tokenizer, plain_tokenizer):
    assert choose_format(sft_args(), chat_tokenizer, str(tmp_path)) == PromptFormat(chat=True)
    assert choose_format(sft_args("--prompt_template", TEMPLATE), plain_tokenizer, str(tmp_path)) == PromptFormat(
        chat=False, template=TEMPLATE
    )
    with pytest.raises(RecipeError, match="use_chat_template: true, but the tokenizer has no chat template"):
        choose_format(sft_args("--use_chat_template", "true"), plain_tokenizer, str(tmp_path))
    with pytest.raises(RecipeError, match="set use_chat_template: false to use prompt_template"):
        choose_format(sft_args("--prompt_template", TEMPLATE), chat_tokenizer, str(tmp_path))


def test_a_saved_format_is_read_back_and_wins_over_the_tokenizer(tmp_path, chat_tokenizer):
    PromptFormat(chat=False, template=TEMPLATE).save(tmp_path)
    assert saved_format(tmp_path) == PromptFormat(chat=False, template=TEMPLATE)
    assert model_format(tmp_path, chat_tokenizer) == PromptFormat(chat=False, template=TEMPLATE)  # the report
    assert choose_format(sft_args(), chat_tokenizer, str(tmp_path)).template == TEMPLATE  # a later stage
    with pytest.raises(RecipeError, match=rf"prompt_template: 'Q: {{prompt}}' differs from .*, which {tmp_path} was"):
        choose_format(sft_args("--prompt_template", "Q: {prompt}"), chat_tokenizer, str(tmp_path))


def test_chat_turns_without_a_chat_template_are_refused(plain_tokenizer):
    from datasets import Dataset

    rows = Dataset.from_list([{"prompt": [{"role": "user", "content": "Hi."}], "completion": "Hello."}])
    with pytest.raises(RecipeError, match="data.jsonl: chat turns need a tokenizer with a chat template"):
        PromptFormat(chat=False).rows(rows, "data.jsonl", ("completion",))
