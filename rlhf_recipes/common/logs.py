"""Logging: accelerate's main-process logger, the known-harmless warnings filtered where they arise, and a stage's
full log on disk behind a quiet console (docs/outputs.md, "Logs")."""

import contextlib
import logging
import os
import re
import sys
import warnings
from pathlib import Path

from accelerate import PartialState
from accelerate.logging import MultiProcessAdapter

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
VERBOSE_ENV = "RLHF_RECIPES_VERBOSE"
CONSOLE = {"console": True}  # `logger.info(..., extra=CONSOLE)`: a line the quiet console shows too
# Warnings nobody running a recipe can act on: (category, module that warns, message start).
HARMLESS_WARNINGS = (
    # TRL's configs still set the old names of `activation_checkpointing` and `is_activation_checkpointing`
    (FutureWarning, "transformers.training_args", "`gradient_checkpointing` is deprecated"),
    (FutureWarning, "transformers.modeling_utils", "`is_gradient_checkpointing` is deprecated"),
    # the Trainer asks for pinned memory; on a CPU-only machine there is none, and nothing is lost
    (UserWarning, "torch.utils.data.dataloader", "'pin_memory' argument is set as true but no accelerator"),
)


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
    """Readable console logging: the recipes' own steps at INFO, the libraries' at WARNING, the harmless unsaid."""
    logging.basicConfig(format=FORMAT, level=logging.WARNING)
    for name in ("rlhf_recipes", "__main__"):  # "__main__": a stage run as `python -m rlhf_recipes.<stage>`
        logging.getLogger(name).setLevel(logging.INFO)
    for category, module, message in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(message), category=category, module=re.escape(module))


def verbose(asked: bool = False) -> bool:
    """Whether the console shows everything: `--verbose`, or RLHF_RECIPES_VERBOSE=1."""
    return asked or os.environ.get(VERBOSE_ENV, "").lower() not in ("", "0", "false", "no")


def _ours_or_errors(record: logging.LogRecord) -> bool:
    ours = record.name.startswith("rlhf_recipes") and (record.levelno >= logging.WARNING or hasattr(record, "console"))
    return ours or record.levelno >= logging.ERROR


class _Tee:
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


@contextlib.contextmanager
def to_file(path: Path, verbose: bool = False):
    """Everything logged, warned or printed inside goes to `path` (appended: a resumed stage adds to it). The console
    keeps progress bars, the package's own warnings and every error; all of it as well when `verbose`."""
    import datasets
    from transformers.utils import logging as transformers_logging

    setup()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    libraries = [logging.getLogger(name) for name in ("transformers", "datasets")]
    consoles = [
        h for logger in (logging.getLogger(), *libraries) for h in logger.handlers if type(h) is logging.StreamHandler
    ]
    bars_were_on = not datasets.utils.are_progress_bars_disabled(), transformers_logging.is_progress_bar_enabled()
    with open(path, "a", buffering=1) as log:
        handler = logging.StreamHandler(log)
        handler.setFormatter(logging.Formatter(FORMAT))
        receivers = [logging.getLogger()] + [logger for logger in libraries if not logger.propagate]
        for logger in receivers:
            logger.addHandler(handler)
        if not verbose:
            for console in consoles:
                console.addFilter(_ours_or_errors)
            datasets.disable_progress_bars()  # map, load and save bars: the stage's training bar is the one that counts
            transformers_logging.disable_progress_bar()
        logging.captureWarnings(True)
        try:
            with contextlib.redirect_stdout(_Tee(sys.stdout, log) if verbose else log):
                yield
        finally:
            logging.captureWarnings(False)
            for logger in receivers:
                logger.removeHandler(handler)
            for console in consoles:
                console.removeFilter(_ours_or_errors)
            if bars_were_on[0]:
                datasets.enable_progress_bars()
            if bars_were_on[1]:
                transformers_logging.enable_progress_bar()
