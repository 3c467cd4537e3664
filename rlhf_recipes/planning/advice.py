"""The plan a user reads: the peak per GPU in parts, the verdict against the GPU, and the cheapest changes that fit,
each planned again with its new settings (`rlhf-recipes plan`)."""

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from rlhf_recipes.planning import gpus
from rlhf_recipes.planning.plan import Estimate, estimate, gib, read, workload

MAX_HALVINGS = 4  # per_device_train_batch_size tried down to 1/16 of the YAML's


@dataclass
class Plan:
    path: Path
    stage: str
    gpu: str
    capacity: float
    estimate: Estimate
    verdict: str
    changes: list[tuple[list[str], Estimate]] = field(default_factory=list)  # (the change as overrides, its estimate)
    seconds: float = 0.0
    num_gpus: int = 1


def candidates(path: Path) -> list[list[str]]:
    """Changes to try, cheapest first, as command-line overrides: checkpointing; a smaller per-device batch with
    more accumulation (the same batch per update); PPO's shorter responses; a 4-bit base."""
    stage, (_, training_args, model_args) = read(path)
    found = []
    if not training_args.activation_checkpointing:
        found.append(["--activation_checkpointing", "true"])
    batch, accumulation = training_args.per_device_train_batch_size, training_args.gradient_accumulation_steps
    for halving in range(1, MAX_HALVINGS + 1):
        if batch >> halving >= 1:
            found.append(
                [
                    "--per_device_train_batch_size",
                    str(batch >> halving),
                    "--gradient_accumulation_steps",
                    str(accumulation << halving),
                ]
            )
    if stage == "ppo" and training_args.response_length >= 32:
        found.append(["--response_length", str(training_args.response_length // 2)])
    if not model_args.load_in_4bit and model_args.use_peft:
        found.append(["--load_in_4bit", "true", "--dtype", "bfloat16"])
    return found


def as_yaml(overrides: list[str]) -> str:
    return ", ".join(f"{key[2:]}: {value}" for key, value in zip(overrides[::2], overrides[1::2]))


def plan(path, gpu_name: str = "A100-80", num_gpus: int = 1, configs: dict | None = None) -> Plan:
    """Plan the stage `path` configures on `gpu_name`; when it does not fit (or is tight), the cheapest changes
    that fit, alone and then together."""
    started = time.perf_counter()
    path = Path(path)
    label, capacity, bf16 = gpus.gpu(gpu_name)
    autocast = torch.bfloat16 if bf16 else torch.float16  # the stages' precision on that GPU (StageSettings)
    work = workload(path, configs=configs, autocast=autocast)
    first = estimate(work)
    result = Plan(path, work.stage, label, capacity, first, gpus.verdict(first.peak, capacity), num_gpus=num_gpus)
    if result.verdict != "fits":
        tried = candidates(path)
        for change in tried:
            if any(change[0] == done[0] for done, _ in result.changes):
                continue  # a smaller batch than one that fits
            new = estimate(workload(path, change, configs, autocast))
            if gpus.verdict(new.peak, capacity) == "fits":
                result.changes.append((change, new))
                if len(result.changes) == 2:
                    break
        if not result.changes and tried:  # none alone: all of them together (the smallest batch tried)
            together = {key: value for change in tried for key, value in zip(change[::2], change[1::2])}
            together = [word for pair in together.items() for word in pair]
            new = estimate(workload(path, together, configs, autocast))
            if gpus.verdict(new.peak, capacity) != "does not fit":
                result.changes.append((together, new))
    result.seconds = time.perf_counter() - started
    return result


def render(result: Plan) -> list[str]:
    """The plan as the terminal shows it."""
    lines = [
        f"{result.path}: the {result.stage} stage, peak per GPU {gib(result.estimate.peak)} ({result.estimate.phase})"
    ]
    for name, value in result.estimate.parts.items():
        how = "formula" if name in result.estimate.formula else "traced"
        lines.append(f"  {name:<26}{gib(value):>12}  {how}")
    lines += [f"  {note}" for note in result.estimate.notes]
    share = result.estimate.peak / result.capacity
    lines.append(f"verdict on {result.gpu} ({gib(result.capacity)}): {result.verdict} ({share:.0%} of its memory)")
    if result.verdict != "fits":
        if result.changes:
            lines.append("cheapest changes that fit:")
            lines += [f"  {as_yaml(change)}  ->  {gib(new.peak)}" for change, new in result.changes]
        else:
            lines.append("no change the planner tries fits: use a GPU with more memory, or a smaller model.")
    if result.num_gpus > 1:
        lines.append(
            f"{result.num_gpus} GPUs with DDP: each GPU holds all of the above; ZeRO/FSDP sharding is not planned yet."
        )
    lines.append(
        f"The CUDA allocator's overhead is counted as a factor of {gpus.ALLOCATOR_FACTOR}: it has not been measured "
        f"on a GPU yet, so leave some room. Planned in {result.seconds:.0f} s, from the model's config only."
    )
    return lines
