"""What every training stage does around its trainer: the start line and the seed, then the closing steps (save and
merge, held-out results, curves, the done line, the barely-moved check). See docs/architecture.md."""

from pathlib import Path

from accelerate import PartialState
from transformers import AutoModelForCausalLM, set_seed

from rlhf_recipes.common import artifacts
from rlhf_recipes.common.arguments import describe_precision
from rlhf_recipes.common.logs import get_logger
from rlhf_recipes.common.stages import Stage
from rlhf_recipes.evaluation import barely_moved, plots

logger = get_logger(__name__)


def start_stage(description: str, training_args) -> None:
    """Log what the stage trains (with its precision and process count), then seed: a LoRA adapter is drawn before
    some trainers seed themselves."""
    logger.info(f"{description}, {describe_precision(training_args)}, {PartialState().num_processes} process(es).")
    set_seed(training_args.seed)


def finish_stage(
    stage: Stage,
    trainer,
    base_path: str,
    tokenizer,
    prompt_format,
    model_class=AutoModelForCausalLM,
    eval_results: dict | None = None,
    beta: float | None = None,
    **save_kwargs,
) -> Path:
    """Save the adapter and the merged model (`artifacts.save_stage`), write `eval_results` and the training curves on
    the main process, say where it all is, and warn when the policy barely moved (`beta`: DPO's). The merged folder."""
    merged_dir = artifacts.save_stage(trainer, base_path, tokenizer, model_class, prompt_format, **save_kwargs)
    output_dir = Path(trainer.args.output_dir)
    if PartialState().is_main_process:
        if eval_results is not None:
            artifacts.write_json(output_dir / artifacts.EVAL_FILE, eval_results)
            accuracy, margin = eval_results["eval_accuracy"], eval_results["eval_margin"]
            logger.info(f"{stage.name.upper()}: held-out accuracy {accuracy}, margin {margin}.")
        plots.plot_stage(stage, trainer.state.log_history, output_dir)
    logger.info(f"{stage.name.upper()} done: adapter in {output_dir}, merged model in {merged_dir}")
    barely_moved.check_stage(stage.name, trainer.state.log_history, beta)
    return merged_dir
