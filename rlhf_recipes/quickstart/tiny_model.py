"""The built-in tiny default: a small Llama-style causal LM and a BPE tokenizer, built offline.

`model_name_or_path: builtin:tiny` in any recipe resolves to a folder under the cache
(`$RLHF_RECIPES_CACHE`, default `~/.cache/rlhf_recipes`) that holds a model saved with
`save_pretrained`, loaded by every stage exactly like a hub model. Building is deterministic:
the same source always gives the same tokenizer and the same weights, and the cache folder is
named after a fingerprint of that source, so a change to the recipe never reuses a stale build.
"""

import os
import shutil
import tempfile
from pathlib import Path

from rlhf_recipes.quickstart import task

BUILTIN_TINY = "builtin:tiny"
SEED = 0
PRETRAIN_STEPS = 800
PRETRAIN_LR = 5e-3
MOOD_COHERENCE = 0.8

SPECIAL_TOKENS = {"pad_token": "<|pad|>", "eos_token": "<|end|>", "unk_token": "<|unk|>"}
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]
# `{% generation %}` marks what the assistant says, so SFT can train on the response only.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "<|assistant|>{% generation %}{{ message['content'] }}<|end|>{% endgeneration %}"
    "{%- else %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}<|assistant|>{%- endif %}"
)
MODEL_SHAPE = dict(
    hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
    max_position_embeddings=256, tie_word_embeddings=True,
)  # fmt: skip


def cache_dir() -> Path:
    return Path(os.environ.get("RLHF_RECIPES_CACHE", Path.home() / ".cache" / "rlhf_recipes"))


def _corpus() -> list[str]:
    train, held_out = task.split_prompts()
    words = [w for group in task.ADJECTIVES.values() for w in group]
    lines = train + held_out + [task.format_review(topic, [w]) for topic in task.TOPICS for w in words]
    return lines + [" ".join(words), "Answer briefly and stay on topic."]


def build_tokenizer():
    """A byte-level BPE tokenizer trained on the task's vocabulary, with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=640,
        special_tokens=list(SPECIAL_TOKENS.values()) + ROLE_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_corpus(), trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, **SPECIAL_TOKENS)
    tokenizer.add_special_tokens({"additional_special_tokens": ROLE_TOKENS})
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.model_max_length = MODEL_SHAPE["max_position_embeddings"]
    return tokenizer


def _pretraining_review(rng, topic: str) -> str:
    """A review in one mood, as in real text: its words mostly share a sentiment (MOOD_COHERENCE of them).

    To predict the next word the LM must tell the moods apart, so its representations carry sentiment,
    as a real pre-trained LM's do. With words drawn regardless of mood, every adjective was
    interchangeable to it, and a LoRA reward model on top often never found the sentiment at all.
    """
    mood = rng.choice(list(task.ADJECTIVES))
    every_word = [w for group in task.ADJECTIVES.values() for w in group]
    words: list[str] = []
    for _ in range(rng.randint(1, 4)):
        group = task.ADJECTIVES[mood] if rng.random() < MOOD_COHERENCE else every_word
        words.append(rng.choice([w for w in group if w not in words]))
    return task.format_review(topic, words)


def _pretraining_text(rng, tokenizer_eos: str) -> str:
    """One document of plain (non-chat) text in the task's domain: instructions and reviews."""
    train, _ = task.split_prompts()
    sentences = []
    for _ in range(rng.randint(1, 3)):
        topic = rng.choice(task.TOPICS)
        if rng.random() < 0.5:  # an instruction, then a review of its topic
            sentences.append(rng.choice([p for p in train if task.parse_prompt(p) == topic]))
        sentences.append(_pretraining_review(rng, topic))
    return " ".join(sentences) + tokenizer_eos


def _pretrain(model, tokenizer, seed: int) -> None:
    """Briefly train the whole model on domain text, so it starts as a base LM that knows the words.

    Single-threaded and seeded, so builds on one kind of processor give bit-identical weights (float
    rounding differs between processors, so another machine's build differs slightly).
    """
    import random

    import torch

    rng = random.Random(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        optimizer = torch.optim.AdamW(model.parameters(), lr=PRETRAIN_LR, weight_decay=0.0)
        model.train()
        for _ in range(PRETRAIN_STEPS):
            batch = tokenizer([_pretraining_text(rng, tokenizer.eos_token) for _ in range(16)], return_tensors="pt", padding=True)
            labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
            loss = model(**batch, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        model.eval()
    finally:
        torch.set_num_threads(threads)


def build_model(tokenizer, seed: int = SEED):
    """A LlamaForCausalLM sized for the tokenizer, initialised and pre-trained with `seed` (reproducible)."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        **MODEL_SHAPE,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    _pretrain(model, tokenizer, seed)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, max_new_tokens=32
    )
    return model


def build(output_dir: str | Path, seed: int = SEED) -> Path:
    """Build the tiny default into `output_dir` (written atomically; an existing folder is kept).

    Another `seed` gives another initialisation and pre-training order: a stand-in for another machine's build.
    """
    output_dir = Path(output_dir)
    if (output_dir / "config.json").exists():
        return output_dir
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=output_dir.parent, prefix=".building-"))
    try:
        tokenizer = build_tokenizer()
        build_model(tokenizer, seed).save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        try:
            staging.rename(output_dir)
        except OSError:  # another process finished first; its copy is identical
            if not (output_dir / "config.json").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return output_dir


def resolve(model_name_or_path: str) -> str:
    """Map `builtin:tiny` to its cached folder (building it on first use); other names pass through."""
    if model_name_or_path != BUILTIN_TINY:
        return model_name_or_path
    return str(build(cached_folder()))


def cached_folder(seed: int = SEED) -> Path:
    """Where the cache holds the build with `seed` (the default seed is what `builtin:tiny` uses)."""
    return cache_dir() / (f"tiny-{fingerprint()}" + ("" if seed == SEED else f"-seed{seed}"))


def fingerprint() -> str:
    """Short hash of the source that defines the tiny default (this module and the task)."""
    import hashlib

    digest = hashlib.sha256(Path(__file__).read_bytes() + Path(task.__file__).read_bytes())
    return digest.hexdigest()[:12]
