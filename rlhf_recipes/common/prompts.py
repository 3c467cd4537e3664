"""How a prompt is shown to a model, the one owner of that decision: the chat template or plain text (optionally in
`prompt_template`), chosen by SFT and saved with its model (docs/data-formats.md, "Prompts shown to a model")."""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from datasets import Dataset

from rlhf_recipes.common.errors import RecipeError, check
from rlhf_recipes.common.formats import prompt_turns

FORMAT_FILE = "prompt_format.json"


@dataclass(frozen=True)
class PromptFormat:
    """The chat template (`chat`), or plain text inside `template` (with {prompt}; None: the prompt as it is)."""

    chat: bool
    template: str | None = None

    def rows(self, rows: Dataset, source: str, answers: tuple[str, ...]) -> Dataset:
        """`prompt` and the `answers` columns (completion, or chosen and rejected) as this format shows them."""
        if len(rows) == 0:
            return rows
        if isinstance(rows[0]["prompt"], list) and not self.chat:
            raise RecipeError(f"{source}: chat turns need a tokenizer with a chat template; this model has none.")
        if self.chat and not isinstance(rows[0]["prompt"], list):

            def as_turns(row: dict) -> dict:
                replies = {a: [{"role": "assistant", "content": row[a].strip()}] for a in answers}
                return {"prompt": prompt_turns(row["prompt"])} | replies

            return rows.map(as_turns)
        if self.template is not None:
            return rows.map(lambda row: {"prompt": self.text(row["prompt"])})
        return rows

    def text(self, prompt):
        """A plain-text prompt inside the template (chat turns are left as they are)."""
        if self.template is None or not isinstance(prompt, str):
            return prompt
        return self.template.replace("{prompt}", prompt)

    def shown(self, prompt):
        """A prompt as the policy's trainer takes it: chat turns (chat format), else text in the template."""
        return prompt_turns(prompt) if self.chat else self.text(prompt)

    def encode(self, tokenizer, prompt) -> list[int]:
        """A prompt's token ids as the policy reads it before its response."""
        if not self.chat:
            return tokenizer(self.text(prompt))["input_ids"]
        turns = prompt_turns(prompt)
        return tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=True, return_dict=False)

    def render(self, tokenizer, prompt, response: str, finished: bool = True) -> str:
        """Prompt and response as one text, as the reward stage trained on them; a response that never reached
        its end (`finished=False`) stays open, as PPO's reward model read it."""
        if not self.chat:
            return self.text(prompt) + response + (tokenizer.eos_token if finished else "")
        if not finished:
            opening = tokenizer.apply_chat_template(prompt_turns(prompt), add_generation_prompt=True, tokenize=False)
            return opening + response
        turns = [*prompt_turns(prompt), {"role": "assistant", "content": response}]
        return tokenizer.apply_chat_template(turns, tokenize=False)

    def save(self, folder: str | Path) -> None:
        (Path(folder) / FORMAT_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")


def saved_format(folder: str | Path) -> PromptFormat | None:
    """The format a model in `folder` was trained with, if a stage saved one."""
    path = Path(folder) / FORMAT_FILE
    return PromptFormat(**json.loads(path.read_text())) if path.is_file() else None


def model_format(folder: str | Path, tokenizer) -> PromptFormat:
    """How to show prompts to the model in `folder`: its saved format, else its chat template when it has one."""
    return saved_format(folder) or PromptFormat(chat=tokenizer.chat_template is not None)


def choose_format(args, tokenizer, model_path: str) -> PromptFormat:
    """A stage's format: the starting model's saved one, else `use_chat_template`/`prompt_template` and the tokenizer.

    Settings that contradict the saved format are an error: the model would see prompts unlike those it learned.
    """
    saved = saved_format(model_path)
    if saved is not None:
        check(
            [
                f"{name}: {value!r} differs from {saved_value!r}, which {model_path} was trained with (its {FORMAT_FILE}); "
                f"remove the setting to keep the model's format."
                for name, value, saved_value in (
                    ("use_chat_template", args.use_chat_template, saved.chat),
                    ("prompt_template", args.prompt_template, saved.template),
                )
                if value is not None and value != saved_value
            ]
        )
        return saved
    has_template = tokenizer.chat_template is not None
    chat = has_template if args.use_chat_template is None else args.use_chat_template
    problems = []
    if chat and not has_template:
        problems.append("use_chat_template: true, but the tokenizer has no chat template.")
    if chat and args.prompt_template is not None:
        problems.append(
            "prompt_template shows a plain-text prompt, but this stage uses the chat template: set "
            "use_chat_template: false to use prompt_template, or remove it."
        )
    check(problems)
    return PromptFormat(chat=chat, template=None if chat else args.prompt_template)
