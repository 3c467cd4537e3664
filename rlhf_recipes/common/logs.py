"""Logging that speaks once when several processes run the same code."""

import logging


class MainProcessLogger(logging.LoggerAdapter):
    """Logs on the main process only (or always, before any distributed state exists)."""

    def log(self, level, msg, *args, **kwargs):
        from accelerate import PartialState

        if PartialState._shared_state and not PartialState().is_main_process:
            return
        super().log(level, msg, *args, **kwargs)


def get_logger(name: str) -> MainProcessLogger:
    return MainProcessLogger(logging.getLogger(name), {})


def setup() -> None:
    """Readable console logging: the recipes' own steps at INFO, the libraries' at WARNING."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    for name in ("rlhf_recipes", "__main__"):  # "__main__": a stage run as `python -m rlhf_recipes.<stage>`
        logging.getLogger(name).setLevel(logging.INFO)
