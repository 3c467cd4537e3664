"""Stage 1, supervised fine-tuning: TRL's `SFTTrainer` with a LoRA adapter, loss on the response only.

    accelerate launch -m rlhf_recipes.sft --config recipes/quickstart/sft.yaml [--learning_rate 1e-3 ...]
    python -m rlhf_recipes.sft --config recipes/quickstart/sft.yaml

Data (`dataset_name`: a local json/jsonl/csv/parquet file or folder, or a hub id), recognized by its
columns: `prompt`/`response`, `prompt`/`completion`, chat `messages`, HH `chosen` transcripts or plain
`text`; `column_mapping` renames others. A tokenizer without a pad token needs `pad_token`. Outputs in `output_dir`: the adapter, `trainer_state.json`, and `merged/` (the full model with
its tokenizer) which the reward and PPO stages start from.
"""

from dataclasses import dataclass

import trl
from accelerate import PartialState
from transformers import AutoModelForCausalLM
from trl import ModelConfig, SFTTrainer, TrlParser, get_peft_config

from rlhf_recipes.common import files, formats, models, prompts
from rlhf_recipes.common.config import (
    DatasetArguments,
    StageSettings,
    apply_prompt_template,
    describe_precision,
    run,
    uses_chat_template,
)
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import get_logger

logger = get_logger(__name__)


@dataclass
class SFTConfig(StageSettings, trl.SFTConfig):
    """TRL's SFTConfig; precision follows the hardware unless set; `pad_token` may add a new token."""


def load_sft_dataset(script_args: DatasetArguments, split: str, tokenizer):
    """The SFT split as prompt/completion rows, wrapped in the chat template when one is used."""
    source = f"{script_args.dataset_name} [{split}]"
    rows = files.load_rows(script_args.dataset_name, split, script_args.dataset_config)
    rows = formats.to_sft_examples(rows, source, script_args.column_mapping)
    if "text" in rows.column_names:  # plain language modelling: no chat turns
        return rows
    if not uses_chat_template(script_args, tokenizer):
        if isinstance(rows[0]["prompt"], list):
            raise RecipeError(f"{source}: chat messages need a tokenizer with a chat template; this one has none.")
        return rows.map(lambda row: {"prompt": apply_prompt_template(script_args, row["prompt"])})
    return prompts.as_chat(rows)


def load_model(model_path: str, tokenizer, model_args: ModelConfig, training_args: SFTConfig):
    """What SFTTrainer loads: the model's path, or the model itself when a new pad token grew the vocabulary."""
    training_args.model_init_kwargs = models.model_init_kwargs(model_args)
    if not models.grown_vocabulary(model_path, tokenizer):
        return model_path
    if models.quantization(model_args) is not None:
        raise RecipeError(
            f"pad_token {training_args.pad_token!r} is a new token, and the embeddings of a quantized model cannot "
            "grow: choose a token of the vocabulary, or run this SFT without load_in_4bit/load_in_8bit."
        )
    from trl.trainer.utils import create_model_from_path

    model = create_model_from_path(model_path, **training_args.model_init_kwargs)
    models.fit_embeddings(model, tokenizer)
    training_args.model_init_kwargs = None
    return model


def main(script_args: DatasetArguments, training_args: SFTConfig, model_args: ModelConfig):
    """Train the SFT adapter and save it with the merged model under `training_args.output_dir`."""
    state = PartialState()
    if model_args.use_peft and model_args.lora_task_type != "CAUSAL_LM":
        raise RecipeError(f"lora_task_type: the SFT stage trains a causal LM; use CAUSAL_LM, not {model_args.lora_task_type}.")
    model_path = models.resolve_model(model_args)
    tokenizer = models.load_tokenizer(model_path, pad_token=training_args.pad_token, allow_new=True)
    train_rows = load_sft_dataset(script_args, script_args.dataset_train_split, tokenizer)
    eval_rows = None
    if training_args.eval_strategy != "no":
        eval_rows = load_sft_dataset(script_args, script_args.dataset_test_split, tokenizer)
    logger.info(
        f"SFT of {model_path} on {len(train_rows)} examples, {describe_precision(training_args)}, "
        f"{'LoRA r=' + str(model_args.lora_r) if model_args.use_peft else 'full fine-tuning'} on a "
        f"{models.describe_quantization(model_args)}, "
        f"{state.num_processes} process(es)."
    )

    model = load_model(model_path, tokenizer, model_args, training_args)
    trainer = SFTTrainer(
        model=model,
        args=training_args,
        train_dataset=train_rows,
        eval_dataset=eval_rows,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        quantization_config=models.quantization(model_args),
    )
    trainer.train()

    merged_dir = models.save_stage(
        trainer, model_path, tokenizer, AutoModelForCausalLM, model_args.use_peft, dtype=model_args.dtype
    )
    logger.info(f"SFT done: adapter in {training_args.output_dir}, merged model in {merged_dir}")
    return trainer


def make_parser() -> TrlParser:
    return TrlParser((DatasetArguments, SFTConfig, ModelConfig))


if __name__ == "__main__":
    run(main, make_parser)
