"""Sample from models on held-out prompts and measure the samples: reward, KL, length, gold score."""

from collections import Counter

import torch

from rlhf_recipes.common import models, prompts
from rlhf_recipes.quickstart import task

EVAL_BATCH_SIZE = 64
SAMPLES_PER_PROMPT = 4  # responses sampled per held-out prompt, for steadier rates
TEMPERATURE = 0.7  # the sampling temperature PPO rolls out with (TRL's default), so both are judged alike


def load_policy(model_dir: str):
    """A causal LM folder (merged model + tokenizer) ready for left-padded generation."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(model_dir).to(device).eval()
    return model, tokenizer


@torch.no_grad()
def sample(model, tokenizer, prompts: list[str], max_new_tokens: int = 32, temperature: float = TEMPERATURE, seed: int = 0):
    """One sampled response per prompt: a list of {"prompt_ids", "response_ids", "text"}."""
    torch.manual_seed(seed)
    use_chat = tokenizer.chat_template is not None
    encoded = [models.encode_prompt(tokenizer, p, use_chat) for p in prompts]
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
            samples.append({"prompt_ids": prompt_ids, "response_ids": response_ids, "text": text})
    return samples


def _until_eos(ids: list[int], eos: int, pad: int) -> list[int]:
    if eos in ids:
        return ids[: ids.index(eos) + 1]
    return [i for i in ids if i != pad]


def generate(model, tokenizer, prompts: list[str], **kwargs) -> list[str]:
    """Sampled response texts, one per prompt."""
    return [s["text"] for s in sample(model, tokenizer, prompts, **kwargs)]


@torch.no_grad()
def sequence_logprobs(model, samples: list[dict], temperature: float = TEMPERATURE) -> list[float]:
    """Sum of log-probabilities of each sample's response under `model` (logits / temperature, as PPO)."""
    totals = []
    for s in samples:
        ids = torch.tensor([s["prompt_ids"] + s["response_ids"]], device=model.device)
        logits = model(ids).logits[0, len(s["prompt_ids"]) - 1 : -1].float() / max(temperature, 1e-7)
        logprobs = logits.log_softmax(-1).gather(-1, ids[0, len(s["prompt_ids"]) :, None])
        totals.append(logprobs.sum().item())
    return totals


def render(tokenizer, prompt: str, response: str) -> str:
    """Prompt and response as the reward stage trained on them (chat template, or text + eos)."""
    if tokenizer.chat_template is None:
        return prompt + response + tokenizer.eos_token
    turns = [*prompts.prompt_turns(prompt), {"role": "assistant", "content": response}]
    return tokenizer.apply_chat_template(turns, tokenize=False)


@torch.no_grad()
def reward_scores(reward_model, tokenizer, prompts: list[str], responses: list[str]) -> list[float]:
    """The reward model's score of each (prompt, response)."""
    scores = []
    for start in range(0, len(prompts), EVAL_BATCH_SIZE):
        texts = [render(tokenizer, p, r) for p, r in zip(prompts[start : start + EVAL_BATCH_SIZE], responses[start:])]
        batch = tokenizer(texts, padding=True, padding_side="right", add_special_tokens=False, return_tensors="pt")
        batch = batch.to(reward_model.device)
        scores += reward_model(**batch).logits[:, 0].float().tolist()
    return scores


def is_builtin_task(prompts: list[str]) -> bool:
    """Whether every prompt belongs to the built-in task (so the gold labeler can judge)."""
    try:
        for p in prompts:
            task.parse_prompt(p)
    except ValueError:
        return False
    return True


def gold_summary(prompts: list[str], responses: list[str]) -> dict:
    """Mean gold score, share of well-formed responses and the reasons for the rest."""
    judgements = [task.judge(p, r) for p, r in zip(prompts, responses)]
    return {
        "num_responses": len(prompts),
        "gold_mean": sum(j.score for j in judgements) / len(judgements),
        "well_formed_rate": sum(j.well_formed for j in judgements) / len(judgements),
        "verdicts": dict(Counter(j.reason for j in judgements)),
    }


def win_rate(ours: list[float], theirs: list[float]) -> float:
    """Share of pairs where `ours` scores higher; ties count half."""
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(ours, theirs))
    return wins / len(ours)
