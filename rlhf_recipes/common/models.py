"""Tokenizers, models, LoRA adapters and merging: the one place the recipes build them."""

import json
import shutil
import tempfile
from pathlib import Path

from rlhf_recipes.common import prompts
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import get_logger
from rlhf_recipes.quickstart import tiny_model

logger = get_logger(__name__)

MERGED_DIR = "merged"  # inside a stage's output_dir: the full model later stages load
ADAPTER_CONFIG = "adapter_config.json"


def resolve_model(model_args) -> str:
    """Resolve `model_args.model_name_or_path` in place: `builtin:tiny`, or a stage's output folder -> its merged model."""
    name = model_args.model_name_or_path
    if not name:
        raise RecipeError("model_name_or_path is not set: give a hub id, a local folder, or builtin:tiny.")
    resolved = model_folder(tiny_model.resolve(name), "model_name_or_path")
    if resolved != name:
        logger.info(f"model_name_or_path {name} -> {resolved}")
    model_args.model_name_or_path = resolved
    return resolved


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


def check_reward_model(path: str, field: str) -> None:
    """A reward model must be a sequence classifier with one output (the reward)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    architectures = config.architectures or []
    if not any(a.endswith("ForSequenceClassification") for a in architectures) or config.num_labels != 1:
        raise RecipeError(
            f"{field}: {path!r} is not a reward model (architectures {architectures}, num_labels "
            f"{config.num_labels}); a reward model is a sequence classifier with one output. A causal LM has no "
            "trained reward head: loading it as one would add a randomly initialised head and give meaningless "
            "scores. Train one with the reward stage and use its output folder."
        )


def load_tokenizer(model_name_or_path: str, padding_side: str = "right", pad_token: str | None = None, allow_new=False):
    """The model's tokenizer with a pad token: its own, or `pad_token` (a new one only where `allow_new`)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_name_or_path, padding_side=padding_side)
    except (OSError, ValueError) as err:
        raise RecipeError(
            f"model_name_or_path {model_name_or_path!r}: could not load a tokenizer ({_first_line(err)}). "
            "Give a local folder saved with save_pretrained or a hub id (the hub needs network access)."
        ) from None
    if pad_token and pad_token != tokenizer.pad_token:
        if pad_token in tokenizer.get_vocab():
            tokenizer.pad_token = pad_token
        elif allow_new:
            tokenizer.add_special_tokens({"pad_token": pad_token})
            logger.info(f"pad_token {pad_token!r} added to the tokenizer (id {tokenizer.pad_token_id}).")
        else:
            raise RecipeError(
                f"pad_token {pad_token!r} is not in the vocabulary of {model_name_or_path!r}. Only the SFT stage adds "
                "a new pad token (and grows the embeddings); later stages inherit it from the SFT model."
            )
    if tokenizer.pad_token is None:
        raise RecipeError(
            f"the tokenizer of {model_name_or_path!r} has no pad token. Set `pad_token` in the SFT stage's YAML: "
            "a new token such as '<|pad|>' (the embeddings grow by one row) or an unused token of its vocabulary "
            "(Pythia: '<|padding|>'). It must differ from the eos token, which PPO reads as the end of a response."
        )
    return tokenizer


def grown_vocabulary(model_path: str, tokenizer) -> bool:
    """Whether the tokenizer has more tokens than the model has embeddings (a pad token was added)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_path)
    vocab_size = getattr(config, "vocab_size", None) or getattr(config.get_text_config(), "vocab_size", None)
    return vocab_size is not None and len(tokenizer) > vocab_size


def fit_embeddings(model, tokenizer) -> None:
    """Grow the embeddings (and a tied LM head) to the tokenizer's size; new rows start at the mean embedding."""
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))


def encode_prompt(tokenizer, prompt, use_chat: bool) -> list[int]:
    """A prompt's token ids as the policy sees it: a chat turn (or turns) with the generation prompt, or plain text."""
    if not use_chat:
        return tokenizer(prompt)["input_ids"]
    return tokenizer.apply_chat_template(prompts.prompt_turns(prompt), add_generation_prompt=True, tokenize=True, return_dict=False)


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def quantization(model_args):
    """TRL's BitsAndBytesConfig for `load_in_4bit` / `load_in_8bit` (None without), checked to be usable here."""
    import importlib.util

    from trl import get_quantization_config

    if not (model_args.load_in_4bit or model_args.load_in_8bit):
        return None
    if importlib.util.find_spec("bitsandbytes") is None:
        raise RecipeError(
            f"load_in_{'4' if model_args.load_in_4bit else '8'}bit needs bitsandbytes, which is not installed: "
            "pip install bitsandbytes (or remove the setting to train in full precision)."
        )
    if not model_args.use_peft:
        raise RecipeError("load_in_4bit/load_in_8bit trains an adapter on frozen quantized weights: set use_peft: true.")
    return get_quantization_config(model_args)


def describe_quantization(model_args) -> str:
    if model_args.load_in_4bit:
        nested = ", double quantization" if model_args.use_bnb_nested_quant else ""
        return f"4-bit {model_args.bnb_4bit_quant_type} base (QLoRA{nested})"
    return "8-bit base" if model_args.load_in_8bit else "full-precision base"


def add_value_adapter(value_model, model_args):
    """A quantized value model trains a LoRA adapter (the LoRA settings of `model_args`) and its score head."""
    from peft import get_peft_model
    from trl import get_peft_config

    config = get_peft_config(model_args)
    config.task_type = "SEQ_CLS"  # keeps the `score` head trainable (modules_to_save)
    return get_peft_model(value_model, config)


def model_init_kwargs(model_args) -> dict:
    """How a trainer loads the model from its path (as TRL's own scripts set it)."""
    return dict(
        revision=model_args.model_revision, attn_implementation=model_args.attn_implementation, dtype=model_args.dtype
    )


def merge_adapter(
    base_path: str, adapter_dir: str | Path, output_dir: str | Path, tokenizer, model_class,
    config_updates: dict | None = None, **load_kwargs,
) -> Path:
    """Load the base unquantized (float32 unless `dtype` is given), merge the adapter, save model + tokenizer.

    `config_updates` are written into the merged model's config.json (e.g. the reward's statistics).

    Written to a temporary folder first and moved into place, so a half-written merge never looks
    finished. Reloading the base (instead of merging the trained object) works for 4-bit training too.
    """
    from peft import PeftModel

    output_dir = Path(output_dir)
    load_kwargs["dtype"] = load_kwargs.get("dtype") or "float32"
    base = model_class.from_pretrained(base_path, **load_kwargs)
    fit_embeddings(base, tokenizer)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.config.update(config_updates or {})
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
    trainer, base_path: str, tokenizer, model_class, use_peft: bool = True, config_updates: dict | None = None,
    **load_kwargs,
) -> Path:
    """Save a finished stage: the adapter and trainer state in `output_dir`, the merged model in `merged/`.

    `config_updates` go into the merged model's config.json.

    Only the main process writes the merged model; every process waits until it is there.
    """
    from accelerate import PartialState

    state = PartialState()
    output_dir = Path(trainer.args.output_dir)
    merged_dir = output_dir / MERGED_DIR
    if use_peft:
        trainer.save_model(str(output_dir))
        if state.is_main_process:
            merge_adapter(base_path, output_dir, merged_dir, tokenizer, model_class, config_updates, **load_kwargs)
    else:
        trainer.accelerator.unwrap_model(trainer.model).config.update(config_updates or {})
        trainer.save_model(str(merged_dir))
    trainer.save_state()
    state.wait_for_everyone()
    return merged_dir


def is_complete(output_dir: str | Path) -> bool:
    """Whether a stage's output folder holds its merged model."""
    return (Path(output_dir) / MERGED_DIR / "config.json").exists()


def write_json(path: str | Path, data: dict) -> None:
    Path(path).write_text(json.dumps(data, indent=2) + "\n")
