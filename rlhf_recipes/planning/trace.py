"""One training step of a stage's models, traced by PyTorch's memory tracker: under `FakeTensorMode` for a plan
(nothing is allocated), or on real CPU tensors to check the plan against (tests/test_planning.py).

The models are built from the config alone, as the stage builds them: the stage's dtype, peft LoRA on the same
modules, gradient checkpointing when the YAML asks for it; AdamW's states exist before the step, as from the second
step on. Deep models are traced at 2 and 3 layers and extrapolated linearly in the layers (`trace`).
"""

import contextlib
import copy
import warnings
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.distributed._tools.mem_tracker import MemTracker

TRACED_LAYERS = (2, 3)  # a deeper model is traced at these depths and extrapolated


@dataclass(frozen=True)
class Model:
    """A model as a stage builds it: `config` (transformers) and how it is trained."""

    config: object
    kind: str  # "causal" (an LM) or "classifier" (a one-output sequence classifier: reward and value models)
    dtype: torch.dtype
    lora: dict | None  # LoRA settings (r, lora_alpha, target_modules, task_type); None trains every weight
    checkpointing: bool


@dataclass(frozen=True)
class Step:
    """One training step: the trained models (a policy, and PPO's value model beside it) and the batch."""

    models: tuple[Model, ...]
    batch: int  # sequences per forward
    seq_len: int  # tokens per sequence
    loss: str  # "lm" (SFT), "pairs" (reward: chosen and rejected in one batch), "ppo" (log-probs + values)
    response_length: int = 0  # PPO: the tokens whose log-probs are trained
    autocast: torch.dtype | None = None  # mixed precision (bf16/fp16 on a GPU); None: fp32 as on CPU


def layers(config) -> int:
    text = config.get_text_config()
    return getattr(text, "num_hidden_layers", None) or getattr(text, "n_layer")


def with_layers(config, count: int):
    config = copy.deepcopy(config)
    text = config.get_text_config()
    setattr(text, "n_layer" if hasattr(text, "n_layer") else "num_hidden_layers", count)
    if getattr(text, "layer_types", None):
        text.layer_types = text.layer_types[:count]
    return config


def build(model: Model) -> torch.nn.Module:
    with warnings.catch_warnings():  # peft asks for `is_gradient_checkpointing`, deprecated in transformers 5
        warnings.filterwarnings("ignore", category=FutureWarning, module="transformers.modeling_utils")
        warnings.filterwarnings("ignore", message="fan_in_fan_out", category=UserWarning, module="peft")  # GPT-2
        return _build(model)


def _build(model: Model) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    config = copy.deepcopy(model.config)
    if model.kind == "causal":
        built = AutoModelForCausalLM.from_config(config, dtype=model.dtype)
    else:
        config.pad_token_id = config.pad_token_id if config.pad_token_id is not None else 0
        config.num_labels = 1
        built = AutoModelForSequenceClassification.from_config(config, dtype=model.dtype)
    built.config.use_cache = False
    if model.checkpointing:
        built.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    if model.lora is not None:
        built = get_peft_model(built, LoraConfig(**model.lora))
        if model.checkpointing:
            built.enable_input_require_grads()
    return built


class _NoHook:
    def remove(self):
        pass


def _tracker(modules) -> MemTracker:
    tracker = MemTracker()
    for module in modules:  # upstream hooks every parameter for its gradient, which fails on a frozen one
        for param in module.parameters():
            if not param.requires_grad:
                tracker._param_to_grad_hook_handles[param] = (_NoHook(), _NoHook())
    return tracker


def _loss(step: Step, modules, ids: torch.Tensor) -> torch.Tensor:
    """The stage's loss on a padded batch (its first token is padding, as in a batch of uneven rows), so the model
    builds its attention mask as in training, whether its tensors are fake or real."""
    mask = torch.ones_like(ids)
    mask[:, 0] = 0
    if step.loss == "lm":
        return modules[0](input_ids=ids, attention_mask=mask, labels=ids).loss
    if step.loss == "pairs":
        rewards = modules[0](input_ids=ids, attention_mask=mask).logits[:, 0]
        chosen, rejected = rewards.chunk(2)
        return -F.logsigmoid(chosen - rejected).mean()
    logits = modules[0](input_ids=ids, attention_mask=mask).logits[:, -step.response_length - 1 : -1].float()
    logprobs = torch.gather(F.log_softmax(logits, dim=-1), 2, ids[:, -step.response_length :, None])
    values = modules[1](input_ids=ids, attention_mask=mask).logits[:, -step.response_length :]
    return -logprobs.mean() + values.float().square().mean()


def trace_once(step: Step, fake: bool = True) -> dict[str, dict[str, int]]:
    """{moment: {category: bytes}} at the peak of each moment of the step (forward, backward, optimizer step), from
    MemTracker: Parameter, Buffer, Gradient, Optstate, Activation, Temp, Other (the input ids)."""
    if fake:
        with torch.device("meta"):  # peft cannot move fake parameters; meta ones become fake below
            modules = [build(model) for model in step.models]
        mode = FakeTensorMode(allow_non_fake_inputs=True)
        with mode:
            for module in modules:
                module.to_empty(device="cpu")
                _tie(module)
    else:
        torch.manual_seed(0)
        modules, mode = [build(model) for model in step.models], contextlib.nullcontext()
    for model, module in zip(step.models, modules):
        if model.kind == "classifier" and step.loss == "ppo":
            module.forward = _value_forward(module)
    with mode:
        vocab = step.models[0].config.get_text_config().vocab_size
        ids = torch.randint(0, vocab, (step.batch, step.seq_len))
        trainable = [p for module in modules for p in module.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=1e-5)
        for param in trainable:  # AdamW's states exist from the first step on: make them before tracing
            param.grad = torch.zeros_like(param)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tracker = _tracker(modules)
        tracker.track_external(*modules, optimizer, ids)
        autocast = torch.autocast("cpu", dtype=step.autocast) if step.autocast else contextlib.nullcontext()
        peaks = {}
        with tracker:
            with autocast:
                loss = _loss(step, modules, ids)
            peaks["forward"] = _peak(tracker)
            loss.backward()
            peaks["backward"] = _peak(tracker)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            peaks["optimizer step"] = _peak(tracker)
    return peaks


def _peak(tracker: MemTracker) -> dict[str, int]:
    """The peak since the last call, by category; the next moment's peak starts from now (as `__enter__` starts)."""
    (peak,) = tracker.get_tracker_snapshot("peak").values()
    tracker._peak_mem_snap = tracker.get_tracker_snapshot("current")
    tracker._peak_mem = {device: snap["Total"] for device, snap in tracker._peak_mem_snap.items()}
    return {str(getattr(key, "value", key)): value for key, value in peak.items() if key != "Total"}


def highest(peaks: dict[str, dict[str, float]]) -> tuple[str, dict[str, float]]:
    """(moment, {category: bytes}) of the step's peak."""
    moment = max(peaks, key=lambda name: sum(peaks[name].values()))
    return moment, peaks[moment]


def _tie(module) -> None:
    base = module.get_base_model() if hasattr(module, "get_base_model") else module
    base.tie_weights()


def _value_forward(module):
    """A value model gives one value per token (TRL's `get_reward` reads the score head on every position)."""
    backbone = module.get_base_model() if hasattr(module, "get_base_model") else module
    body = getattr(backbone, backbone.base_model_prefix)

    def forward(input_ids, attention_mask=None, **_):
        hidden = body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return type("Values", (), {"logits": backbone.score(hidden)})

    return forward


def trace(step: Step, fake: bool = True) -> tuple[str, dict[str, float]]:
    """(moment, {category: bytes}) at the peak of `step`. A model deeper than 3 layers is traced at 2 and 3 layers
    and each moment's peak (forward, backward, optimizer step) extrapolated linearly in the layers: each layer adds
    its weights, states and saved activations. The highest moment is the peak; a shallow model's peak can be its
    optimizer step and a deep one's its backward."""
    depth = {layers(model.config) for model in step.models}
    if len(depth) > 1 or max(depth) <= max(TRACED_LAYERS):
        moment, parts = highest(trace_once(step, fake))
        return moment, {key: float(value) for key, value in parts.items()}
    (depth,) = depth
    low, high = TRACED_LAYERS
    traced = {n: _at_depth(step, n, fake) for n in TRACED_LAYERS}
    grown = lambda a, b: b + (b - a) / (high - low) * (depth - high)  # noqa: E731
    totals = {
        moment: grown(sum(traced[low][moment].values()), sum(traced[high][moment].values())) for moment in traced[high]
    }
    moment = max(totals, key=totals.get)
    at_low, at_high = traced[low][moment], traced[high][moment]
    # What every moment holds grows exactly with the layers: weights, inputs, AdamW's states (but in the optimizer
    # step, where its temporaries join them); the rest at the peak is split as at `high` layers.
    held = ("Parameter", "Buffer", "Other") + (("Optstate",) if moment != "optimizer step" else ())
    persistent = {key: grown(at_low.get(key, 0), at_high.get(key, 0)) for key in held}
    varying = {key: value for key, value in at_high.items() if key not in persistent}
    rest, share = totals[moment] - sum(persistent.values()), sum(varying.values()) or 1.0
    return moment, persistent | {key: rest * value / share for key, value in varying.items()}


def _at_depth(step: Step, count: int, fake: bool) -> dict[str, dict[str, int]]:
    models = tuple(replace(model, config=with_layers(model.config, count)) for model in step.models)
    return trace_once(replace(step, models=models), fake)


def parameter_bytes(model: Model) -> dict[str, int]:
    key = (model.config.to_json_string(), model.kind, model.dtype, repr(model.lora))
    if key not in _COUNTED:
        _COUNTED[key] = _count_parameters(model)
    return _COUNTED[key]


_COUNTED: dict[tuple, dict[str, int]] = {}  # a plan tries several changes on the same models


def _count_parameters(model: Model) -> dict[str, int]:
    """Bytes of the model's weights, of its base linear weights (the ones bitsandbytes quantizes: every
    `nn.Linear` but the output head and the adapter's own) and of what trains, counted on a meta-device model."""
    from transformers.pytorch_utils import Conv1D

    with torch.device("meta"):
        module = build(model)
    counted, frozen_linear = {}, 0
    for name, sub in module.named_modules():
        head = name.endswith(("lm_head", "score", "embed_out")) or "lora_" in name or "modules_to_save" in name
        if isinstance(sub, (torch.nn.Linear, Conv1D)) and not head:  # GPT-2's linear layers are Conv1D
            frozen_linear += sub.weight.numel()
    for param in module.parameters():
        counted[id(param)] = param
    total = sum(p.numel() * p.element_size() for p in counted.values())
    trainable = sum(p.numel() * p.element_size() for p in counted.values() if p.requires_grad)
    return {
        "total": total,
        "trainable": trainable,
        "frozen_linear_params": frozen_linear,
        "frozen_linear": frozen_linear * model.dtype.itemsize,
    }
