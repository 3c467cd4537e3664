"""The one exception the recipes raise for bad input: its message is written for the user."""


class RecipeError(ValueError):
    """Bad input (a file, a row, a field): the message names it, says what was expected and how to fix it."""
