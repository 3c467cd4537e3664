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
