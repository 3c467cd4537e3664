"""Generate from a model on held-out prompts and judge the responses with the built-in gold labeler."""

from collections import Counter

import torch

from rlhf_recipes import task

EVAL_BATCH_SIZE = 64


def load_policy(model_dir: str):
    """A causal LM folder (merged model + tokenizer) ready for left-padded generation."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    return model, tokenizer


@torch.no_grad()
def generate(model, tokenizer, prompts: list[str], max_new_tokens: int = 32, temperature: float = 1.0, seed: int = 0):
    """Sampled responses (decoded, special tokens removed), one per prompt, through the chat template."""
    torch.manual_seed(seed)
    responses = []
    for start in range(0, len(prompts), EVAL_BATCH_SIZE):
        chats = [[{"role": "user", "content": p}] for p in prompts[start : start + EVAL_BATCH_SIZE]]
        batch = tokenizer.apply_chat_template(
            chats, add_generation_prompt=True, padding=True, return_tensors="pt", return_dict=True
        ).to(model.device)
        output = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=temperature > 0,
            temperature=temperature if temperature > 0 else None,
            top_k=0,
            top_p=1.0,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        responses += tokenizer.batch_decode(output[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    return responses


def gold_summary(prompts: list[str], responses: list[str]) -> dict:
    """Mean gold score, share of well-formed responses and the reasons for the rest."""
    judgements = [task.judge(p, r) for p, r in zip(prompts, responses)]
    return {
        "num_prompts": len(prompts),
        "gold_mean": sum(j.score for j in judgements) / len(judgements),
        "well_formed_rate": sum(j.well_formed for j in judgements) / len(judgements),
        "verdicts": dict(Counter(j.reason for j in judgements)),
    }
