"""Configuration shared by the stages: dataset arguments, precision from the hardware, strict parsing.

Values come from the dataclass defaults, then the YAML given with `--config`, then the command
line (TRL's `TrlParser`: command line beats YAML beats default). Unknown keys are errors.
"""

import difflib
import json
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields

from trl import ScriptArguments

from rlhf_recipes.common import logs
from rlhf_recipes.common.errors import RecipeError


@dataclass
class DatasetArguments(ScriptArguments):
    """TRL's dataset arguments plus what the recipes add to them."""

    column_mapping: dict | str | None = field(
        default=None,
        metadata={
            "help": "Rename columns before the format is recognized, as {name in the data: expected name}, "
            'e.g. {"question": "prompt", "answer": "response"} (JSON on the command line).'
        },
    )
    use_chat_template: bool | None = field(
        default=None,
        metadata={"help": "Wrap plain-text prompts/responses in the tokenizer's chat template. Default: when it has one."},
    )

    prompt_template: str | None = field(
        default=None,
        metadata={
            "help": "Without a chat template: how a plain-text prompt is shown to the model, with {prompt} where it "
            "goes, e.g. 'Question: {prompt}\\nAnswer:\\n'. The response follows it directly. Default: as it is."
        },
    )

    def __post_init__(self):
        if self.prompt_template is not None and "{prompt}" not in self.prompt_template:
            raise RecipeError(f"prompt_template: {self.prompt_template!r} has no {{prompt}} placeholder.")
        if isinstance(self.column_mapping, str):
            try:
                self.column_mapping = json.loads(self.column_mapping)
            except json.JSONDecodeError as err:
                raise RecipeError(f"column_mapping: expected a JSON object, got {self.column_mapping!r} ({err}).")
        if self.column_mapping is not None and not (
            isinstance(self.column_mapping, dict) and all(isinstance(v, str) for v in self.column_mapping.values())
        ):
            raise RecipeError(f"column_mapping: expected a mapping of column names, got {self.column_mapping!r}.")


def apply_prompt_template(script_args: DatasetArguments, prompt):
    """A plain-text prompt inside `prompt_template` (chat turns and an unset template leave it as it is)."""
    if script_args.prompt_template is None or not isinstance(prompt, str):
        return prompt
    return script_args.prompt_template.replace("{prompt}", prompt)


def uses_chat_template(script_args: DatasetArguments, tokenizer) -> bool:
    """Whether plain-text data is wrapped in the chat template: as set, else when the tokenizer has one."""
    if script_args.use_chat_template and tokenizer.chat_template is None:
        raise RecipeError("use_chat_template: true, but the tokenizer has no chat template.")
    if script_args.use_chat_template is None:
        return tokenizer.chat_template is not None
    return script_args.use_chat_template


def bf16_supported() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


class PrecisionFromHardware:
    """Mixin for TRL configs: unset `bf16`/`fp16` follow the hardware (bf16 GPU, fp16 older GPU, fp32 CPU)."""

    def __post_init__(self):
        import torch

        if self.bf16 is None and not self.fp16:
            self.bf16 = bf16_supported()
            self.fp16 = torch.cuda.is_available() and not self.bf16
        elif self.bf16 and not bf16_supported():
            raise RecipeError(
                "bf16: true was set, but this machine has no GPU with bf16 support. Remove the `bf16` line "
                "to let the precision follow the hardware, or set `bf16: false`."
            )
        super().__post_init__()


@dataclass
class PadTokenOption:
    """Mixin for TRL configs: `pad_token` for a tokenizer that has none (GPT-2, Pythia).

    TRL's SFT/Reward configs carry a deprecated field of that name; here the stage sets it on the
    tokenizer itself (TRL's advice), and a new token grows the model's embeddings in the SFT stage.
    """

    pad_token: str | None = field(
        default=None,
        metadata={
            "help": "Pad token to give a tokenizer: a token of its vocabulary, or (SFT stage) a new one such as "
            "'<|pad|>', for which the embeddings grow by one row. Later stages inherit it from the SFT model."
        },
    )

    def __post_init__(self):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pad_token.*deprecated")
            super().__post_init__()


@dataclass
class StageSettings(PadTokenOption, PrecisionFromHardware):
    """What every stage adds to its TRL config: precision from the hardware and `pad_token`."""


def describe_precision(args) -> str:
    if args.bf16:
        return "bf16 mixed precision"
    if args.fp16:
        return "fp16 mixed precision"
    import torch

    return "fp32" if torch.cuda.is_available() else "fp32 (no GPU found)"


def parse(parser, args: Sequence[str] | None = None) -> tuple:
    """Parse `--config FILE` and command-line overrides; any unknown key is an error naming it."""
    args = list(sys.argv[1:] if args is None else args)
    config_file = args[args.index("--config") + 1] if "--config" in args else None
    try:
        *parsed, from_config, from_command_line = parser.parse_args_and_config(
            args, return_remaining_strings=True, separate_remaining_strings=True
        )
    except FileNotFoundError as err:
        raise RecipeError(f"config file {err.filename!r} does not exist.") from None
    except ValueError as err:  # a dataclass's own check (e.g. TRL's ModelConfig: 4-bit and 8-bit together)
        if isinstance(err, RecipeError):
            raise
        where = f"config file {config_file} and command line" if config_file else "command line"
        raise RecipeError(f"{where}: {err}. Change the settings it names.") from None
    known = [f.name for dataclass_type in parser.dataclass_types for f in fields(dataclass_type)]
    problems = [
        _unknown_key(key, source, known)
        for source, strings in ((f"config file {config_file}", from_config), ("command line", from_command_line))
        for key in strings
        if key.startswith("--")
    ]
    if problems:
        raise RecipeError(" ".join(problems) + " Check the spelling against `--help`.")
    return tuple(parsed)


def _unknown_key(flag: str, source: str, known: list[str]) -> str:
    key = flag[2:].split("=")[0].replace("-", "_")
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    return f"Unknown key `{key}` in the {source}{hint}."


def check_launch() -> None:
    """Refuse a DeepSpeed or FSDP launch on a machine without a CUDA GPU before any library trips over it."""
    import os

    import torch

    launched = [name for name in ("DEEPSPEED", "FSDP") if os.environ.get(f"ACCELERATE_USE_{name}", "").lower() == "true"]
    if launched and not torch.cuda.is_available():
        raise RecipeError(
            f"launched with a {launched[0]} accelerate config, which needs a CUDA GPU, and this machine has none. "
            "For several processes on CPU use accelerate_configs/multi_gpu.yaml with ACCELERATE_USE_CPU=1; "
            "`rlhf-recipes check-config FILE` checks a config before launching."
        )


def run(main: Callable, make_parser: Callable) -> None:
    """Entry point of a stage module: parse, run, and turn bad input into a one-paragraph error."""
    logs.setup()
    try:
        check_launch()
        main(*parse(make_parser()))
    except RecipeError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
