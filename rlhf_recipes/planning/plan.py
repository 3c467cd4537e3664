"""A stage's peak GPU memory from its YAML and the model's config alone: what trains is traced (trace.py), what
cannot be traced is a stated formula (4-bit weights, PPO's generation KV cache); then the verdict and the cheapest
changes that fit (docs/recipes.md, "Will it fit?")."""

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from rlhf_recipes.common import artifacts
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.parsing import parse
from rlhf_recipes.planning.gpus import ALLOCATOR_FACTOR, GIB
from rlhf_recipes.planning.trace import Model, Step, layers, parameter_bytes, trace

PLANNED = ("sft", "reward", "ppo")
FOUR_BIT = 0.5 + 4 / 64  # bytes per 4-bit weight: half a byte, plus one fp32 absmax per block of 64 (bitsandbytes)


@dataclass
class Estimate:
    parts: dict[str, float]  # label -> bytes per GPU at the peak
    formula: set[str] = field(default_factory=set)  # the parts counted by formula, not traced
    phase: str = "training step"  # when the peak is: a moment of the training step, or PPO's rollout
    notes: list[str] = field(default_factory=list)

    @property
    def peak(self) -> float:
        return sum(self.parts.values()) * ALLOCATOR_FACTOR


def stage_of(path: Path):
    """The stage a YAML configures, by its file name (sft.yaml, reward.yaml, ppo.yaml, as the recipes name them)."""
    from rlhf_recipes import methods
    from rlhf_recipes.pipeline import FIRST_STAGES

    name = path.stem.split("_")[0]
    if name in FIRST_STAGES:
        return FIRST_STAGES[name]
    if name in methods.names() and name in PLANNED:
        return methods.get(name)
    raise RecipeError(
        f"{path}: the planner reads the stage from the file name and plans {', '.join(PLANNED)} so far; name the "
        f"file after its stage (e.g. sft.yaml) or plan one of those stages."
    )


def read(path: Path, overrides: list[str] | None = None) -> tuple[str, tuple]:
    """(stage name, the stage's parsed dataclasses), parsed by the stage's own parser."""
    stage = stage_of(Path(path))
    args = ["--config", str(path), *(overrides or [])]
    try:
        return stage.name, parse(stage.make_parser(), args)
    except RecipeError as err:
        if "needs bitsandbytes" not in str(err):
            raise
    parsed = parse(stage.make_parser(), [*args, "--load_in_4bit", "false"])
    parsed[-1].load_in_4bit = True  # 4-bit weights are planned by formula: the plan needs no bitsandbytes
    return stage.name, parsed


def model_config(name: str | None, field_name: str, yaml: Path, configs: dict[str, str] | None = None):
    """The transformers config of a model named in `yaml`: builtin:, a local folder, an earlier stage's output
    folder (not trained yet: the model its sft or reward YAML starts from, the same architecture) or a hub
    id's cached config."""
    from transformers import AutoConfig

    if not name:
        raise RecipeError(f"{yaml}: {field_name} is not set, so there is no model to plan; give a hub id or a folder.")
    if configs and name in configs:
        return AutoConfig.from_pretrained(configs[name])
    if name.startswith(artifacts.BUILTIN):
        return AutoConfig.from_pretrained(artifacts.builtin_model(name))
    if Path(name).exists():
        return AutoConfig.from_pretrained(artifacts.model_folder(name, field_name))
    for earlier in sorted(yaml.parent.glob("*.yaml")):  # an earlier stage's output, before it is trained
        if earlier != yaml and earlier.stem.split("_")[0] in ("sft", "reward"):
            _, (_, earlier_args, earlier_model) = read(earlier)
            if Path(earlier_args.output_dir) == Path(name):
                return model_config(earlier_model.model_name_or_path, "model_name_or_path", earlier, configs)
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false")
    try:
        return AutoConfig.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError):
        if offline:
            pass
        else:
            try:
                return AutoConfig.from_pretrained(name)
            except (OSError, ValueError):
                pass
    raise RecipeError(
        f"{yaml}: {field_name} {name!r} is neither a local folder nor a model whose config.json is in the hub cache"
        f"{' (HF_HUB_OFFLINE is set)' if offline else ' or reachable on the hub'}. The planner reads the config "
        f"only: run `huggingface-cli download {name} config.json` where the hub is reachable, or give a local folder "
        "that holds the model's config.json."
    )


def _lora(model_args, task_type: str) -> dict | None:
    if not model_args.use_peft:
        return None
    targets = model_args.lora_target_modules
    return dict(
        r=model_args.lora_r,
        lora_alpha=model_args.lora_alpha,
        target_modules=targets[0] if isinstance(targets, list) and len(targets) == 1 else targets,
        task_type=task_type,
    )


@dataclass
class Workload:
    """What a stage holds on one GPU: the traced step, frozen models (weights only), PPO's rollout."""

    stage: str
    step: Step
    four_bit: bool
    frozen: tuple[Model, ...] = ()
    rollout: tuple[int, int] | None = None  # PPO: (sequences generated at once, tokens each)


def workload(path: Path, overrides=None, configs=None, autocast: torch.dtype | None = None) -> Workload:
    path = Path(path)
    name, (script_args, training_args, model_args) = read(path, overrides)
    dtype = getattr(torch, model_args.dtype) if model_args.dtype not in (None, "auto") else torch.float32
    checkpointing = bool(training_args.activation_checkpointing)
    batch = training_args.per_device_train_batch_size
    four_bit = bool(model_args.load_in_4bit)
    if autocast is not None and dtype.itemsize == 2:  # 16-bit weights compute as they are: fp16 and bf16 hold the
        autocast = dtype  # same bytes, and casting one into the other would trace a copy of every weight
    if name in ("sft", "reward"):
        config = model_config(model_args.model_name_or_path, "model_name_or_path", path, configs)
        seq = min(training_args.max_length or 1024, _positions(config))
        kind, task, loss = ("causal", "CAUSAL_LM", "lm") if name == "sft" else ("classifier", "SEQ_CLS", "pairs")
        model = Model(config, kind, dtype, _lora(model_args, task), checkpointing)
        return Workload(
            name, Step((model,), batch * (2 if loss == "pairs" else 1), seq, loss, autocast=autocast), four_bit
        )
    policy_config = model_config(training_args.sft_model_path, "sft_model_path", path, configs)
    reward_config = model_config(training_args.reward_model_path, "reward_model_path", path, configs)
    from_reward = script_args.value_model_init == "reward" and script_args.reward_classifier_label is None
    policy = Model(policy_config, "causal", dtype, _lora(model_args, "CAUSAL_LM"), checkpointing)
    value_lora = _lora(model_args, "SEQ_CLS") if four_bit else None  # as ppo_models: full unless quantized
    value = Model(reward_config if from_reward else policy_config, "classifier", dtype, value_lora, checkpointing)
    reward = Model(reward_config, "classifier", dtype, None, False)
    tokens = min(script_args.max_prompt_length + training_args.response_length, _positions(policy_config))
    micro = min(batch, batch * training_args.gradient_accumulation_steps // training_args.num_mini_batches)
    step = Step((policy, value), micro, tokens, "ppo", training_args.response_length, autocast)
    rollout = (training_args.local_rollout_forward_batch_size, tokens)
    return Workload(name, step, four_bit, (reward,), rollout)


def _positions(config) -> int:
    text = config.get_text_config()
    return getattr(text, "max_position_embeddings", None) or getattr(text, "n_positions", None) or 10**9


def estimate(work: Workload) -> Estimate:
    moment, traced = trace(work.step)
    parts = {
        "weights": traced.get("Parameter", 0) + traced.get("Buffer", 0),
        "gradients": traced.get("Gradient", 0),
        "optimizer states": traced.get("Optstate", 0),
        "activations and logits": traced.get("Activation", 0) + traced.get("Other", 0),
        "backward temporaries": traced.get("Temp", 0),
    }
    formula = set()
    if work.four_bit:
        for model in work.step.models:
            counted = parameter_bytes(model)
            parts["weights"] -= counted["frozen_linear"]
            parts["4-bit base weights"] = (
                parts.get("4-bit base weights", 0) + counted["frozen_linear_params"] * FOUR_BIT
            )
        formula.add("4-bit base weights")
    result = Estimate(parts, formula, f"training step, at its {moment}")
    for model in work.frozen:
        counted = parameter_bytes(model)
        frozen = (
            counted["total"] - (counted["frozen_linear"] - counted["frozen_linear_params"] * FOUR_BIT) * work.four_bit
        )
        parts["reward model (frozen)"] = frozen
        formula.add("reward model (frozen)")
    if work.rollout:
        config = work.step.models[0].config.get_text_config()
        heads = getattr(config, "num_attention_heads", None) or config.n_head
        kv_heads = getattr(config, "num_key_value_heads", None) or heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        itemsize = (work.step.autocast or work.step.models[0].dtype).itemsize
        sequences, tokens = work.rollout
        kv = 2 * layers(config) * kv_heads * head_dim * sequences * tokens * itemsize
        kept = ("weights", "4-bit base weights", "optimizer states", "reward model (frozen)")
        rollout = {k: v for k, v in parts.items() if k in kept} | {"generation KV cache": kv}
        formula.add("generation KV cache")
        if sum(rollout.values()) > sum(parts.values()):  # the rollout, not the training step, is the peak
            result = Estimate(rollout, formula, "rollout (generation)")
        result.notes.append(
            f"rollout: {gib(sum(rollout.values()))} with a KV cache of {gib(kv)} for {sequences} sequences x "
            f"{tokens} tokens (formula: 2 x layers x kv_heads x head_dim x sequences x tokens x bytes)"
        )
    return result


def gib(value: float) -> str:
    return f"{value / GIB:.2f} GiB" if value >= GIB / 4 else f"{value / 2**20:.1f} MiB"
