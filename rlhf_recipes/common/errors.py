"""The one exception the recipes raise for bad input: its message is written for the user."""


class RecipeError(ValueError):
    """Bad input (a file, a row, a field): the message names it, says what was expected and how to fix it."""


def check(problems: list[str]) -> None:
    """Raise one RecipeError listing every problem found; nothing happens when there is none."""
    if problems:
        raise RecipeError(" ".join(problems))


class StageStopped(RecipeError):
    """A stage stopped by Ctrl-C: the message says where it stopped (`where`) and how to continue (`resume`)."""

    exit_code = 130  # the shell's code for a run stopped by SIGINT

    def __init__(self, where: str, resume: str):
        super().__init__(f"{where} To continue, {resume}")
        self.where = where
