"""Sample from models on held-out prompts and measure the samples: KL, win rates (rewards: `common.reward_model`).

Every model is read with its own saved prompt format (`common.prompts`), as it was trained.
"""

import torch
from accelerate import PartialState
from trl.trainer.utils import pad, selective_log_softmax

from rlhf_recipes.common.prompts import PromptFormat, model_format

EVAL_BATCH_SIZE = 64
LOGPROBS_BATCH_SIZE = 16  # samples per forward pass when scoring them
SAMPLES_PER_PROMPT = 4  # responses sampled per held-out prompt, for steadier rates
TEMPERATURE = 0.7  # TRL's PPO default, for a policy that saved no sampling settings
MAX_NEW_TOKENS = 32


def settings(policy_dirs: list[str], max_new_tokens: int | None, temperature: float | None) -> dict:
    """Sampling settings: as given, else as the first policy that saved how it sampled in training (PPO, RLOO and
    GRPO save it in their generation config), else the defaults. A policy judged on longer or hotter samples than
    it was trained on is misjudged; several policies are judged on the same settings."""
    from transformers import GenerationConfig

    trained = None
    for policy_dir in policy_dirs:
        try:
            saved = GenerationConfig.from_pretrained(policy_dir)
        except OSError:  # no generation_config.json
            continue
        if saved.do_sample and saved.max_new_tokens is not None and saved.temperature is not None:
            trained = saved
            break
    return {
        "max_new_tokens": max_new_tokens or (trained.max_new_tokens if trained else MAX_NEW_TOKENS),
        "temperature": temperature if temperature is not None else (trained.temperature if trained else TEMPERATURE),
    }


def load_policy(model_dir: str):
    """(model, tokenizer, prompt format) of a causal LM folder, ready for left-padded generation."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_dir).to(PartialState().device).eval()
    return model, tokenizer, model_format(model_dir, tokenizer)


@torch.no_grad()
def sample(
    model,
    tokenizer,
    prompt_format: PromptFormat,
    prompts: list,
    max_new_tokens: int = 32,
    temperature: float = TEMPERATURE,
    seed: int = 0,
) -> list[dict]:
    """One sampled response per prompt: a list of {"prompt_ids", "response_ids", "text"}."""
    torch.manual_seed(seed)
    encoded = [prompt_format.encode(tokenizer, p) for p in prompts]
    samples = []
    for start in range(0, len(encoded), EVAL_BATCH_SIZE):
        chunk = encoded[start : start + EVAL_BATCH_SIZE]
        batch = tokenizer.pad({"input_ids": chunk}, padding=True, return_tensors="pt").to(model.device)
        output = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=temperature > 0,
            temperature=temperature if temperature > 0 else None,
            top_k=None,
            top_p=None,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        for prompt_ids, generated in zip(chunk, output[:, batch["input_ids"].shape[1] :].tolist()):
            response_ids = _until_eos(generated, tokenizer.eos_token_id, tokenizer.pad_token_id)
            text = tokenizer.decode(response_ids, skip_special_tokens=True)
            finished = tokenizer.eos_token_id in response_ids
            samples.append({"prompt_ids": prompt_ids, "response_ids": response_ids, "text": text, "finished": finished})
    return samples


def _until_eos(ids: list[int], eos: int, pad: int) -> list[int]:
    if eos in ids:
        return ids[: ids.index(eos) + 1]
    return [i for i in ids if i != pad]


def generate(model, tokenizer, prompt_format: PromptFormat, prompts: list, **kwargs) -> list[str]:
    """Sampled response texts, one per prompt."""
    return [s["text"] for s in sample(model, tokenizer, prompt_format, prompts, **kwargs)]


@torch.no_grad()
def sequence_logprobs(
    model, samples: list[dict], temperature: float = TEMPERATURE, batch_size: int = LOGPROBS_BATCH_SIZE
) -> list[float]:
    """Sum of log-probabilities of each sample's response under `model` (logits / temperature, as PPO), `batch_size`
    samples of similar length per forward pass, right-padded so every token keeps its position."""
    order = sorted(range(len(samples)), key=lambda i: len(samples[i]["prompt_ids"]) + len(samples[i]["response_ids"]))
    totals = [0.0] * len(samples)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        ids = [torch.tensor(samples[i]["prompt_ids"] + samples[i]["response_ids"]) for i in rows]
        input_ids = pad(ids).to(model.device)
        attention_mask = pad([torch.ones_like(t) for t in ids]).to(model.device)
        prompt_lengths = torch.tensor([len(samples[i]["prompt_ids"]) for i in rows], device=model.device)
        first = int(prompt_lengths.min()) - 1  # the first position whose logits predict a response token
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, first:-1].float()
        logprobs = selective_log_softmax(logits / max(temperature, 1e-7), input_ids[:, first + 1 :])
        targets = torch.arange(first + 1, input_ids.shape[1], device=model.device)  # the tokens they predict
        in_response = (targets >= prompt_lengths[:, None]) & attention_mask[:, first + 1 :].bool()
        for i, total in zip(rows, logprobs.masked_fill(~in_response, 0.0).sum(-1).tolist()):
            totals[i] = total
    return totals


def win_rate(ours: list[float], theirs: list[float]) -> float:
    """Share of pairs where `ours` scores higher; ties count half."""
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(ours, theirs))
    return wins / len(ours)
