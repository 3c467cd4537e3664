"""Logging that speaks once when several processes run the same code: accelerate's logger."""

import logging

from accelerate import PartialState
from accelerate.logging import MultiProcessAdapter


class MainProcessLogger(MultiProcessAdapter):
    """accelerate's main-process logger, which also logs before any distributed state exists.

    accelerate's own refuses to log until `PartialState()` has run; the data checks also run in
    tools and tests that never start one, where there is only one process anyway.
    """

    def log(self, level, msg, *args, **kwargs):
        if PartialState._shared_state:
            return super().log(level, msg, *args, **kwargs)
        kwargs.pop("main_process_only", None)
        kwargs.pop("in_order", None)
        self.logger.log(level, msg, *args, **kwargs)


def get_logger(name: str) -> MainProcessLogger:
    return MainProcessLogger(logging.getLogger(name), {})


def setup() -> None:
    """Readable console logging: the recipes' own steps at INFO, the libraries' at WARNING."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    for name in ("rlhf_recipes", "__main__"):  # "__main__": a stage run as `python -m rlhf_recipes.<stage>`
        logging.getLogger(name).setLevel(logging.INFO)
