"""Checkpoints in a stage's output folder: which one to resume from (`resume_from_checkpoint`), and training that a
kill or a Ctrl-C can stop (docs/resume.md)."""

import shlex
import sys
from pathlib import Path

from tqdm.auto import tqdm
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_callback import ProgressCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from rlhf_recipes.common.errors import RecipeError, StageStopped
from rlhf_recipes.common.logs import get_logger

logger = get_logger(__name__)

STATE_FILE = TRAINER_STATE_NAME  # trainer_state.json, written last: a checkpoint with it is complete
YES, NO = ("true", "yes", "1"), ("false", "no", "0", "")


def complete_checkpoints(output_dir: str | Path, warn: bool = True) -> list[Path]:
    """The complete checkpoints in `output_dir`, oldest step first (the cut-short ones are left out, with a word)."""
    folder = Path(output_dir)
    found = sorted(folder.glob(f"{PREFIX_CHECKPOINT_DIR}-*"), key=_step) if folder.is_dir() else []
    complete = [path for path in found if _step(path) >= 0 and (path / STATE_FILE).is_file()]
    for path in sorted(set(found) - set(complete)) if warn else ():
        logger.warning(f"{path}: no {STATE_FILE}, so it was cut short while saving; passed over.")
    return complete


def resume_point(training_args) -> str | None:
    """The checkpoint `training_args.resume_from_checkpoint` names: None, the newest one (true), or the path given."""
    wanted = training_args.resume_from_checkpoint
    if wanted is None or wanted is False or str(wanted).lower() in NO:
        return None
    if wanted is True or str(wanted).lower() in YES:
        complete = complete_checkpoints(training_args.output_dir)
        if not complete:
            raise RecipeError(
                f"resume_from_checkpoint: true, but {training_args.output_dir} holds no complete checkpoint "
                f"({PREFIX_CHECKPOINT_DIR}-<step>/ with {STATE_FILE}). A stage saves one every save_steps with "
                "save_strategy: steps; without one, run it without resume_from_checkpoint to start over."
            )
        return str(complete[-1])
    if not (Path(wanted) / STATE_FILE).is_file():
        raise RecipeError(
            f"resume_from_checkpoint: {wanted!r} is not a complete checkpoint (a {PREFIX_CHECKPOINT_DIR}-<step>/ "
            f"folder with {STATE_FILE}); give one of a stage's checkpoints, or true for the newest in output_dir."
        )
    return str(wanted)


class StageProgress(ProgressCallback):
    """The Trainer's progress bar without its evaluation bars, the logged metrics going to the log, not the bar."""

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            if sys.stderr.isatty():
                self.training_bar = tqdm(total=state.max_steps, dynamic_ncols=True)
            else:  # a file or a notebook's log keeps every redraw: a quarter of the steps and 30 s apart at most
                self.training_bar = tqdm(total=state.max_steps, mininterval=30, miniters=max(1, state.max_steps // 4))
        self.current_step = 0

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
        pass

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero:
            logger.info(f"step {state.global_step}: {logs}")


def train(trainer, training_args, stage: str):
    """`trainer.train()`, from the checkpoint `resume_from_checkpoint` names; Ctrl-C stops it with how to resume."""
    if trainer.pop_callback(ProgressCallback):
        trainer.add_callback(StageProgress())
    checkpoint = resume_point(training_args)
    if checkpoint:
        logger.info(f"{stage}: resuming from {checkpoint}")
    try:
        return trainer.train(resume_from_checkpoint=checkpoint)
    except KeyboardInterrupt:
        complete = complete_checkpoints(training_args.output_dir)
        saved = (
            f"Its newest checkpoint is {complete[-1]} (step {_step(complete[-1])})."
            if complete
            else "It saved no checkpoint yet (save_strategy: steps saves one every save_steps), so it will start over."
        )
        raise StageStopped(
            f"{stage} stopped by Ctrl-C at step {trainer.state.global_step} of {trainer.state.max_steps}, and no model "
            f"was merged. {saved}",
            f"run the same command with --resume_from_checkpoint true:\n  {command_line('--resume_from_checkpoint', 'true')}",
        ) from None


def command_line(*extra: str) -> str:
    """This process's command line (a console script by its name), with `extra` options unless it has them."""
    argv = list(sys.orig_argv)
    argv = ["python", *argv[1:]] if argv[1:2] in (["-m"], ["-c"]) else [Path(argv[1]).name, *argv[2:]]
    if extra and extra[0] not in argv:
        argv += extra
    return shlex.join(argv)


def _step(path: Path) -> int:
    step = path.name.removeprefix(f"{PREFIX_CHECKPOINT_DIR}-")
    return int(step) if step.isdigit() else -1
