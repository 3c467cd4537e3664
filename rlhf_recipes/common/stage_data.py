"""Each stage's dataset: read (`files`), turned into the columns TRL expects (`formats`), and shown
as the model reads prompts (`prompts`). Every drop is counted and reported.
"""

from accelerate import PartialState
from datasets import Dataset

from rlhf_recipes.common import artifacts, files, formats, models
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import get_logger
from rlhf_recipes.common.prompts import PromptFormat, choose_format

logger = get_logger(__name__)


def sft_examples(script_args, split: str, prompt_format: PromptFormat) -> Dataset:
    """The SFT split as prompt/completion rows in the model's prompt format (or `text` rows for plain LM)."""
    source = f"{script_args.dataset_name} [{split}]"
    rows = files.load_rows(script_args.dataset_name, split, script_args.dataset_config)
    rows = formats.to_sft_examples(rows, source, script_args.column_mapping)
    return rows if "text" in rows.column_names else prompt_format.rows(rows, source, ("completion",))


def preference_pairs(script_args, prompt_format: PromptFormat) -> tuple[Dataset, Dataset]:
    """(train, held-out) preference pairs: the data's test split, or the prompts `eval_fraction` holds out;
    at most `max_eval_pairs` held-out pairs, a fixed sample."""
    name = script_args.dataset_name
    splits = files.load_splits(name, script_args.dataset_config)

    def pairs(split: str) -> Dataset:
        rows = files.select_split(splits, name, split)
        return formats.to_preference_pairs(rows, f"{name} [{split}]", script_args.column_mapping)

    train = pairs(script_args.dataset_train_split)
    if script_args.dataset_test_split in splits:
        held_out = pairs(script_args.dataset_test_split)
    else:
        train, held_out = formats.split_by_prompt(train, script_args.eval_fraction)
    if script_args.max_eval_pairs is not None and len(held_out) > script_args.max_eval_pairs:
        logger.info(
            f"{name}: evaluating on a fixed sample of {script_args.max_eval_pairs} of {len(held_out)} "
            "held-out pairs (max_eval_pairs)."
        )
        held_out = held_out.shuffle(seed=0).select(range(script_args.max_eval_pairs))
    logger.info(f"{name}: {len(train)} training pairs, {len(held_out)} held-out pairs.")
    return tuple(prompt_format.rows(rows, name, ("chosen", "rejected")) for rows in (train, held_out))


def preference_stage_inputs(script_args, training_args, model_args) -> tuple:
    """What the preference stages (reward, DPO) start from: (model path, tokenizer, prompt format, train pairs,
    held-out pairs), the held-out pairs checked against the evaluation asked for."""
    model_path = artifacts.resolve_model(model_args)
    tokenizer = models.load_tokenizer(model_path, pad_token=training_args.pad_token)
    prompt_format = choose_format(script_args, tokenizer, model_path)
    train, held_out = preference_pairs(script_args, prompt_format)
    check_held_out(training_args, held_out)
    return model_path, tokenizer, prompt_format, train, held_out


def check_held_out(training_args, held_out: Dataset) -> None:
    """Held-out pairs must exist when evaluation is asked for (reward and DPO stages)."""
    if len(held_out) == 0 and training_args.eval_strategy != "no":
        raise RecipeError("eval_strategy is set but no pairs are held out: raise eval_fraction or add a test split.")


def prompt_rows(script_args, split: str, prompt_format: PromptFormat, tokenizer) -> Dataset:
    """Prompts to sample responses to: `source_prompt` as the data holds it, `prompt` as the policy's trainer takes
    it (`PromptFormat.shown`) and its `input_ids`; prompts over `max_prompt_length` tokens are dropped and counted."""
    source = f"{script_args.dataset_name} [{split}]"
    rows = files.load_rows(script_args.dataset_name, split, script_args.dataset_config)
    prompts = formats.to_prompts(rows, source, script_args.column_mapping, script_args.prompt_words)
    with PartialState().main_process_first():  # as TRL's PPO example: tokenize once, the others read the cache
        encoded = Dataset.from_dict({"source_prompt": prompts}).map(
            lambda batch: {
                "prompt": [prompt_format.shown(p) for p in batch["source_prompt"]],
                "input_ids": [prompt_format.encode(tokenizer, p) for p in batch["source_prompt"]],
            },
            batched=True,
        )
    limit = script_args.max_prompt_length
    kept = encoded.filter(lambda row: len(row["input_ids"]) <= limit)
    if len(kept) < len(encoded):
        logger.warning(
            f"{source}: dropped {len(encoded) - len(kept)} of {len(encoded)} prompts longer than "
            f"max_prompt_length={limit} tokens."
        )
    if len(kept) == 0:
        raise RecipeError(f"{source}: every prompt is longer than max_prompt_length={limit} tokens.")
    return kept


def prompt_ids(script_args, split: str, prompt_format: PromptFormat, tokenizer) -> Dataset:
    """Prompts as PPO takes them: tokenized (`input_ids`) and nothing else."""
    return prompt_rows(script_args, split, prompt_format, tokenizer).select_columns(["input_ids"])
