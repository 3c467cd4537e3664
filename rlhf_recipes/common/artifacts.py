"""What a stage writes and the next one reads: the one place that knows the files in an output folder, and when a
stage's output is complete (`merged/` holds a model). The layout: docs/outputs.md, "What each stage writes"."""

import json
import shutil
import tempfile
from pathlib import Path

from rlhf_recipes.common import checkpoints, models
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import get_logger

logger = get_logger(__name__)

MERGED_DIR = "merged"
ADAPTER_CONFIG = "adapter_config.json"
EVAL_FILE = "eval_results.json"
TIMINGS_FILE = "timings.json"
BUILTIN = "builtin:"  # `builtin:<name>`: a model a package ships
SHIPPED_MODELS = {"tiny": "rlhf_recipes.quickstart.tiny_model:resolve"}  # name -> function(`builtin:<name>`) -> folder
BUILTIN_MODELS = "rlhf_recipes.builtin_models"  # the entry point group where other packages add theirs, the same way


def model_folder(path: str, field: str) -> str:
    """A full model's folder: a stage's output folder stands for its `merged/`; hub ids pass through."""
    folder = Path(path)
    if not folder.exists():
        if path.startswith((".", "/", "~")) or path.count("/") > 1:
            raise RecipeError(f"{field}: {path!r} is no local folder (and not a hub id of the form org/name).")
        return path
    if (folder / MERGED_DIR / "config.json").exists():
        return str(folder / MERGED_DIR)
    if (folder / ADAPTER_CONFIG).exists() and not (folder / "config.json").exists():
        raise RecipeError(
            f"{field}: {path!r} holds only a LoRA adapter and no merged model; point to a full model "
            f"(a stage's output folder with its {MERGED_DIR}/ inside, or the {MERGED_DIR}/ folder itself)."
        )
    if not (folder / "config.json").exists():
        raise RecipeError(f"{field}: {path!r} is a folder but holds no model (no config.json).")
    return path


def resolve_model(model_args) -> str:
    """Resolve `model_args.model_name_or_path` in place: `builtin:tiny`, or a stage's output folder -> its `merged/`."""
    name = model_args.model_name_or_path
    if not name:
        raise RecipeError("model_name_or_path is not set: give a hub id, a local folder, or builtin:tiny.")
    resolved = model_folder(builtin_model(name) if name.startswith(BUILTIN) else name, "model_name_or_path")
    if resolved != name:
        logger.info(f"model_name_or_path {name} -> {resolved}")
    model_args.model_name_or_path = resolved
    return resolved


def builtin_model(name: str) -> str:
    """The folder of the built-in model `builtin:<name>`: this package's (`builtin:tiny`) or another package's."""
    from importlib.metadata import entry_points
    from pkgutil import resolve_name

    found = {point.name: point.value for point in entry_points(group=BUILTIN_MODELS)} | SHIPPED_MODELS
    if name.removeprefix(BUILTIN) not in found:
        known = ", ".join(BUILTIN + n for n in found)
        raise RecipeError(f"model_name_or_path {name!r}: no such built-in model; the built-in ones are {known}.")
    return resolve_name(found[name.removeprefix(BUILTIN)])(name)


def merge_adapter(
    base_path: str,
    adapter_dir,
    output_dir,
    tokenizer,
    model_class,
    config_updates=None,
    generation: dict | None = None,
    **load_kwargs,
):
    """Load the base unquantized (float32 unless `dtype` is given), merge the adapter, save model + tokenizer.

    `config_updates` go into the merged config.json; `generation` (how the policy sampled in training:
    max_new_tokens, temperature) into its generation_config.json, with sampling on.
    Reloading the base (instead of merging the trained object) works for 4-bit training too.
    """
    from peft import PeftModel

    output_dir = Path(output_dir)
    load_kwargs["dtype"] = load_kwargs.get("dtype") or "float32"
    base = model_class.from_pretrained(base_path, **load_kwargs)
    models.fit_embeddings(base, tokenizer)  # the SFT stage may have added a pad token
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.config.update(config_updates or {})
    if generation:
        merged.generation_config.update(do_sample=True, **generation)
    staging = Path(tempfile.mkdtemp(dir=output_dir.parent, prefix=f".{output_dir.name}-"))
    try:
        merged.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if output_dir.exists():
            shutil.rmtree(output_dir)
        staging.rename(output_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return output_dir


def save_stage(
    trainer,
    base_path: str,
    tokenizer,
    model_class,
    prompt_format,
    use_peft: bool = True,
    config_updates: dict | None = None,
    generation: dict | None = None,
    **load_kwargs,
) -> Path:
    """Save a finished stage: adapter and trainer state in `output_dir`; model, tokenizer and format in `merged/`.

    `generation`: how the policy sampled in training (PPO, RLOO, GRPO), saved in merged/generation_config.json;
    the report samples the same way.

    Only the main process writes the merged model; every process waits until it is there.
    """
    from accelerate import PartialState

    state = PartialState()
    output_dir = Path(trainer.args.output_dir)
    merged_dir = output_dir / MERGED_DIR
    if use_peft:
        trainer.save_model(str(output_dir))
        if state.is_main_process:
            merge_adapter(
                base_path, output_dir, merged_dir, tokenizer, model_class, config_updates, generation, **load_kwargs
            )
    else:
        trainer.accelerator.unwrap_model(trainer.model).config.update(config_updates or {})
        trainer.save_model(str(merged_dir))
    if state.is_main_process:
        prompt_format.save(merged_dir)
    trainer.save_state()
    state.wait_for_everyone()
    return merged_dir


def is_complete(output_dir: str | Path) -> bool:
    """Whether a stage's output folder holds its merged model."""
    return (Path(output_dir) / MERGED_DIR / "config.json").exists()


def eval_results(accuracy, margin, train, held_out, model_path: str, dataset_name: str, **extra) -> dict:
    """A preference stage's held-out figures, as `eval_results.json` holds them: pairwise accuracy, margin, the pair
    counts."""
    return {
        "eval_accuracy": accuracy,
        "eval_margin": margin,
        **extra,
        "num_train_pairs": len(train),
        "num_eval_pairs": len(held_out),
        "model_name_or_path": model_path,
        "dataset_name": dataset_name,
    }


def write_json(path: str | Path, data: dict) -> None:
    Path(path).write_text(json.dumps(data, indent=2) + "\n")


def read_json(path: str | Path, default=None):
    """A JSON file's content, or `default` when there is no such file."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else default


def log_history(output_dir: str | Path) -> list[dict] | None:
    """What a stage's trainer logged, step by step (None when the folder has no trainer state)."""
    state = read_json(Path(output_dir) / checkpoints.STATE_FILE)
    return None if state is None else state["log_history"]
