"""Stage 1, supervised fine-tuning: TRL's `SFTTrainer` with a LoRA adapter, loss on the response only; it writes
the adapter and `merged/`, which the later stages start from (docs/recipes.md, docs/outputs.md)."""

from dataclasses import dataclass

import trl
from trl import SFTTrainer, get_peft_config, get_quantization_config
from trl.trainer.utils import create_model_from_path

from rlhf_recipes.common import artifacts, checkpoints, models, stage_data
from rlhf_recipes.common.arguments import DatasetArguments, StageModelConfig, StageSettings
from rlhf_recipes.common.errors import check
from rlhf_recipes.common.parsing import RecipeParser, run
from rlhf_recipes.common.prompts import choose_format
from rlhf_recipes.common.stages import Stage
from rlhf_recipes.training import finish_stage, start_stage


@dataclass
class SFTConfig(StageSettings, trl.SFTConfig):
    """TRL's SFTConfig; precision follows the hardware unless set; `pad_token` may add a new token."""


@dataclass
class SFTModelConfig(StageModelConfig):
    """TRL's ModelConfig for a causal LM."""

    def problems(self) -> list[str]:
        found = super().problems()
        if self.use_peft and self.lora_task_type != "CAUSAL_LM":
            found.append(f"lora_task_type: the SFT stage trains a causal LM; use CAUSAL_LM, not {self.lora_task_type}.")
        return found


def check_sft(model_args: SFTModelConfig, training_args: SFTConfig, model_path: str, grown_vocabulary: bool) -> None:
    """What needs the model's config and tokenizer: a causal LM, whose embeddings grow for a new pad token only
    when it is not quantized."""
    problems = models.causal_problems(model_path, "model_name_or_path", STAGE.name)
    if grown_vocabulary and (model_args.load_in_4bit or model_args.load_in_8bit):
        problems.append(
            f"pad_token {training_args.pad_token!r} is a new token, and the embeddings of a quantized "
            "model cannot grow: choose a token of the vocabulary, or run this SFT without "
            "load_in_4bit/load_in_8bit."
        )
    check(problems)


def main(script_args: DatasetArguments, training_args: SFTConfig, model_args: SFTModelConfig):
    """Train the SFT adapter and save it with the merged model under `training_args.output_dir`."""
    model_path = artifacts.resolve_model(model_args)
    tokenizer = models.load_tokenizer(model_path, pad_token=training_args.pad_token, allow_new=True)
    prompt_format = choose_format(script_args, tokenizer, model_path)
    grown = models.grown_vocabulary(model_path, tokenizer)
    check_sft(model_args, training_args, model_path, grown)
    train_rows = stage_data.sft_examples(script_args, script_args.dataset_train_split, prompt_format)
    eval_rows = None
    if training_args.eval_strategy != "no":
        eval_rows = stage_data.sft_examples(script_args, script_args.dataset_test_split, prompt_format)
    adapter = f"LoRA r={model_args.lora_r}" if model_args.use_peft else "full fine-tuning"
    start_stage(
        f"SFT of {model_path} on {len(train_rows)} examples, {adapter} on a {models.describe_quantization(model_args)}",
        training_args,
    )
    training_args.model_init_kwargs = models.model_init_kwargs(model_args)
    model = model_path
    if grown:  # SFTTrainer cannot grow the embeddings: it gets the grown model itself
        model = create_model_from_path(model_path, **training_args.model_init_kwargs)
        models.fit_embeddings(model, tokenizer)
        training_args.model_init_kwargs = None
    trainer = SFTTrainer(
        model=model,
        args=training_args,
        train_dataset=train_rows,
        eval_dataset=eval_rows,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        quantization_config=get_quantization_config(model_args),
    )
    checkpoints.train(trainer, training_args, STAGE.name)
    finish_stage(
        STAGE, trainer, model_path, tokenizer, prompt_format, use_peft=model_args.use_peft, dtype=model_args.dtype
    )
    return trainer


def make_parser() -> RecipeParser:
    return RecipeParser((DatasetArguments, SFTConfig, SFTModelConfig))


STAGE = Stage("sft", "supervised fine-tuning on demonstrations (TRL SFTTrainer)", make_parser, main)

if __name__ == "__main__":
    run(main, make_parser)
