"""From a YAML file and the command line to a stage's dataclasses, strictly: command line beats YAML beats default,
unknown keys are errors, every problem in one error; relative paths: docs/recipes.md, "The path rule"."""

import difflib
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path

from trl import TrlParser

from rlhf_recipes.common import launch, logs
from rlhf_recipes.common.errors import RecipeError


class RecipeParser(TrlParser):
    """TRL's parser that builds every dataclass before complaining, so one error lists every problem."""

    def parse_args_and_config(self, args=None, *rest, **kwargs):
        args = list(sys.argv[1:] if args is None else args)
        self.config_folder = Path(args[args.index("--config") + 1]).parent if "--config" in args else None
        return super().parse_args_and_config(args, *rest, **kwargs)

    def set_defaults_with_config(self, **config) -> list[str]:
        folder = self.__dict__.pop("config_folder", None)
        if folder is not None:
            config = {key: under_folder(value, folder) for key, value in config.items()}
        self.unknown_in_config = super().set_defaults_with_config(**config)
        return self.unknown_in_config

    def parse_args_into_dataclasses(self, args=None, return_remaining_strings=False, **_):
        namespace, unknown_on_command_line = self.parse_known_args(args=args)
        known = [f.name for dataclass_type in self.dataclass_types for f in fields(dataclass_type)]
        unknown_in_config = self.__dict__.pop("unknown_in_config", [])
        problems = [_unknown_key(flag, "config file", known) for flag in unknown_in_config if flag.startswith("--")]
        problems += [
            _unknown_key(flag, "command line", known) for flag in unknown_on_command_line if flag.startswith("--")
        ]
        built = []
        for dataclass_type in self.dataclass_types:
            inputs = {f.name: getattr(namespace, f.name) for f in fields(dataclass_type) if f.init}
            try:
                built.append(dataclass_type(**inputs))
            except ValueError as err:
                problems.append(str(err))
        if problems:
            raise RecipeError(" ".join(problems))
        return (*built, []) if return_remaining_strings else tuple(built)


def under_folder(value, folder: Path):
    """A YAML value that names a file or folder under `folder`, as that path; any other value as it is."""
    if isinstance(value, list):
        return [under_folder(item, folder) for item in value]
    if isinstance(value, str) and value and not Path(value).is_absolute() and (folder / value).exists():
        return str(folder / value)
    return value


def _unknown_key(flag: str, source: str, known: list[str]) -> str:
    key = flag[2:].split("=")[0].replace("-", "_")
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    return f"Unknown key `{key}` in the {source}{hint}; check the spelling against `--help`."


def parse(parser: TrlParser, args: Sequence[str] | None = None) -> tuple:
    """Parse `--config FILE` and command-line overrides; one RecipeError names every problem and where it is."""
    args = list(sys.argv[1:] if args is None else args)
    where = f"config file {args[args.index('--config') + 1]}" if "--config" in args else "command line"
    try:
        return tuple(parser.parse_args_and_config(args, return_remaining_strings=True)[:-1])
    except FileNotFoundError as err:
        raise RecipeError(f"config file {err.filename!r} does not exist.") from None
    except ValueError as err:
        raise RecipeError(f"{where}: {err}") from None


def run(main: Callable, make_parser: Callable) -> None:
    """Entry point of a stage module: parse, run, and turn bad input into a one-paragraph error."""
    logs.setup()
    try:
        launch.check_launch()
        main(*parse(make_parser()))
    except RecipeError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(getattr(err, "exit_code", 2))
