"""One timed training run, in its own process:

    python -m bench.worker STAGE VARIANT MODEL_DIR DATA_DIR OUT_DIR [EXTRA_ARGS_JSON]

VARIANT is `recipe` (the stage's own `main`, as a user runs it) or `plain` (a minimal script that
calls the same TRL trainer directly, as TRL's docs do). EXTRA_ARGS_JSON is a JSON list of more
command-line overrides for both. Prints one JSON line of figures. PPO's `plain` variant calls the
package's PPOTrainer directly; `bench.ppo_speed` times it against TRL 1.12's own.
"""

import json
import os
import resource
import sys
import time

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.settings import STAGES  # noqa: E402

TIMES = {}
SHAPE = {}


def timed(cls):
    """Record the wall time of `cls.train` (the training loop alone)."""
    original = cls.train

    def train(self, *args, **kwargs):
        start = time.perf_counter()
        result = original(self, *args, **kwargs)
        TIMES["train_s"] = time.perf_counter() - start
        TIMES["log"] = self.state.log_history
        SHAPE.update(shape_of(self))
        return result

    cls.train = train


def shape_of(trainer) -> dict:
    """What a row must state: matmul parameters, layers, width, batch and the sequence lengths trained on."""
    import torch

    model = trainer.model.policy if hasattr(trainer.model, "policy") else trainer.model
    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    config = model.config
    args = trainer.args
    shape = {
        "matmul_params": float(sum(m.in_features * m.out_features for m in linear)),
        "layers": config.num_hidden_layers,
        "hidden": config.hidden_size,
        "batch": args.per_device_train_batch_size * args.gradient_accumulation_steps,
    }
    dataset = trainer.train_dataset
    columns = [c for c in ("input_ids", "chosen_ids", "rejected_ids") if c in dataset.column_names]
    lengths = [len(ids) for c in columns for ids in dataset[c]]
    if hasattr(args, "response_length"):  # PPO: prompt + response
        lengths = [n + args.response_length for n in lengths]
    shape["seq_mean"], shape["seq_max"] = sum(lengths) / len(lengths), float(max(lengths))
    return shape


def split_ppo_time() -> None:
    """Time PPO's generation and scoring calls; the rest of each update is optimisation."""
    import torch

    from rlhf_recipes.methods import ppo_trainer

    def clock(name, fn, only_without_grad=False):
        def wrapped(*args, **kwargs):
            if only_without_grad and torch.is_grad_enabled():
                return fn(*args, **kwargs)
            start = time.perf_counter()
            result = fn(*args, **kwargs)
            TIMES[name] = TIMES.get(name, 0.0) + time.perf_counter() - start
            return result

        return wrapped

    ppo_trainer.generate = clock("generation_s", ppo_trainer.generate)
    ppo_trainer.score = clock("scoring_s", ppo_trainer.score, only_without_grad=True)  # reward and value passes
    ppo_trainer.forward = clock("scoring_s", ppo_trainer.forward, only_without_grad=True)  # policy, reference


def stage_args(stage, out_dir, extra):
    return [
        "--config",
        f"recipes/quickstart/{stage}.yaml",
        "--output_dir",
        out_dir,
        "--disable_tqdm",
        "true",
        "--report_to",
        "none",
        *STAGES[stage]["args"],
        *extra,
    ]


def recipe(stage, model_dir, data_dir, out_dir, extra):
    from rlhf_recipes.common.parsing import parse
    from rlhf_recipes.common.stages import REWARD, SFT

    declared = declaration(stage)
    args = stage_args(stage, out_dir, extra) + [declared.reads.get(SFT, "--model_name_or_path"), model_dir]
    if REWARD in declared.reads:
        args += [declared.reads[REWARD], f"{data_dir}/reward_model"]
    args += ["--dataset_name", f"{data_dir}/{STAGES[stage]['data']}"]
    declared.main(*parse(declared.make_parser(), args))


def declaration(stage: str):
    """The stage's declaration (`rlhf_recipes.common.stages.Stage`): its parser and main, what it reads."""
    from rlhf_recipes import methods
    from rlhf_recipes.pipeline import FIRST_STAGES

    return {**FIRST_STAGES, **methods.available()}[stage]


def plain(stage, model_dir, data_dir, out_dir, extra):
    """The same training with TRL alone: no format detection, checks, merge or plots."""
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer

    from rlhf_recipes.common.parsing import parse  # only to read the same YAML values

    _, training_args, model_args = parse(declaration(stage).make_parser(), stage_args(stage, out_dir, extra))
    lora = LoraConfig(
        r=model_args.lora_r,
        lora_alpha=model_args.lora_alpha,
        lora_dropout=model_args.lora_dropout,
        target_modules="all-linear",
        task_type="SEQ_CLS" if stage == "reward" else "CAUSAL_LM",
    )
    data = load_dataset("json", data_files=f"{data_dir}/{STAGES[stage]['plain_data']}")["train"]
    if stage == "sft":
        from trl import SFTTrainer

        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        trainer = SFTTrainer(
            model=model_dir, args=training_args, train_dataset=data, processing_class=tokenizer, peft_config=lora
        )
    elif stage == "reward":
        from trl import RewardTrainer

        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        trainer = RewardTrainer(
            model=model_dir, args=training_args, train_dataset=data, processing_class=tokenizer, peft_config=lora
        )
    else:
        from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

        from rlhf_recipes.methods.ppo_trainer import PPOTrainer

        tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
        data = data.map(
            lambda row: {
                "input_ids": tokenizer.apply_chat_template(
                    [{"role": "user", "content": row["prompt"]}],
                    add_generation_prompt=True,
                    tokenize=True,
                    return_dict=False,
                )
            },
            remove_columns=data.column_names,
        )
        reward_dir = f"{data_dir}/reward_model"
        trainer = PPOTrainer(
            args=training_args,
            processing_class=tokenizer,
            model=AutoModelForCausalLM.from_pretrained(model_dir),
            reward_model=AutoModelForSequenceClassification.from_pretrained(reward_dir),
            train_dataset=data,
            value_model=AutoModelForSequenceClassification.from_pretrained(reward_dir),
            peft_config=lora,
        )
    trainer.train()
    trainer.save_model(out_dir)


def main():
    stage, variant, model_dir, data_dir, out_dir = sys.argv[1:6]
    extra = json.loads(sys.argv[6]) if len(sys.argv) > 6 else []
    import trl

    from rlhf_recipes.methods.ppo_trainer import PPOTrainer

    for cls in (trl.SFTTrainer, trl.RewardTrainer, PPOTrainer):
        timed(cls)
    split_ppo_time()
    start = time.perf_counter()
    (recipe if variant == "recipe" else plain)(stage, model_dir, data_dir, out_dir, extra)
    total = time.perf_counter() - start
    log = TIMES["log"]
    figures = {
        "stage": stage,
        "variant": variant,
        "train_s": TIMES["train_s"],
        "total_s": total,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **SHAPE,
    }
    import torch

    if torch.cuda.is_available():
        figures["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    tokens = [e["num_tokens"] for e in log if "num_tokens" in e]
    if tokens:
        figures["tokens_per_s"] = max(tokens) / TIMES["train_s"]
    episodes = [e["episode"] for e in log if "episode" in e]
    if episodes:
        figures["episodes_per_s"] = max(episodes) / TIMES["train_s"]
        for part in ("generation_s", "scoring_s"):
            figures[part] = TIMES.get(part, 0.0)
        figures["optimization_s"] = TIMES["train_s"] - figures["generation_s"] - figures["scoring_s"]
    print("BENCH " + json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
