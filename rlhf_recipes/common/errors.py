"""The one exception the recipes raise for bad input: its message is written for the user."""


class RecipeError(ValueError):
    """Bad input (a file, a row, a field): the message names it, says what was expected and how to fix it."""


def check(problems: list[str]) -> None:
    """Raise one RecipeError listing every problem found; nothing happens when there is none."""
    if problems:
        raise RecipeError(" ".join(problems))
