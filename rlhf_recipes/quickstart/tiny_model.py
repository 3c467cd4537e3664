"""The built-in tiny default: a small Llama-style causal LM and a BPE tokenizer, built offline.

`model_name_or_path: builtin:tiny` in any recipe resolves to a folder that holds a model saved
with `save_pretrained`, loaded by every stage exactly like a hub model: the build shipped with
the package (`quickstart/tiny/`, under 1 MB), so every machine starts from the same weights.

Why ship it: float rounding differs between processors (PyTorch picks CPU kernels by the CPU's
capability, and `ATEN_CPU_CAPABILITY` chooses them), and the pre-training amplifies it, so two
processors used to build two different base models from the same seed and code, and the
quickstart's result moved with them. The shipped build records the fingerprint of the source it
came from (`build.json`); when this module or the task changes, `builtin:tiny` no longer uses it
but builds from the new source into the cache (`$RLHF_RECIPES_CACHE`, default
`~/.cache/rlhf_recipes`, a folder named after the fingerprint), and `make tiny-model`
regenerates the shipped build (a test fails until it does). Building is deterministic on one
kind of processor: the same source always gives the same tokenizer and the same weights.
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import get_logger
from rlhf_recipes.quickstart import task

logger = get_logger(__name__)

BUILTIN_TINY = "builtin:tiny"
SEED = 0
PRETRAIN_STEPS = 2400
PRETRAIN_LR = 5e-3
MOOD_COHERENCE = 0.8
MOOD_LISTS = 0.5  # share of the reviews replaced by a plain list of words of one mood
MOOD_LIST_LENGTH = (6, 8)  # words in such a list, each named once (a mood has 6-8)
SHIPPED = Path(__file__).resolve().parent / "tiny"
BUILD_FILE = "build.json"  # what a build was made from: the source's fingerprint, the CPU kernels, the versions
SHIPPED_CAPABILITY = "default"  # the shipped build's `ATEN_CPU_CAPABILITY`: the kernels every x86 processor has

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
    """A review in one mood, as in real text: its words mostly share a sentiment (MOOD_COHERENCE of them);
    or, MOOD_LISTS of the time, a list of words of one mood ("great lovely superb.").

    To predict the next word the LM must tell the moods apart, so its representations carry sentiment,
    as a real pre-trained LM's do. With words drawn regardless of mood, every adjective was
    interchangeable to it, and a LoRA reward model on top often never found the sentiment at all.
    In a review the mood is two tokens back ("great and |"), and the LM learnt it only after a long
    plateau whose length depended on float rounding: by step 800 under one processor's kernels,
    after 2,000 under another's or never (`mood_coherence` 0.00). In a list the mood is the previous
    word, the shortest path there is, and every build learns it within the first 200 steps.

    A list names most of its mood's words, each once, so the LM learns to predict a word not yet used: it
    must see which ones came before. Without that (lists of 3-6, 800 steps) it gave a repeat of the
    previous word the same chance as any other word of its mood (12.4%, 1 in 8), so the SFT policy
    repeated words and PPO, sharpened onto the reward model's favourites, repeated them 2-3 times as
    often ("great and great"), a flaw the tiny reward model cannot see (bench/QUALITY.md, experiment 26).
    """
    mood = rng.choice(list(task.ADJECTIVES))
    if rng.random() < MOOD_LISTS:
        length = min(rng.randint(*MOOD_LIST_LENGTH), len(task.ADJECTIVES[mood]))
        return " ".join(rng.sample(task.ADJECTIVES[mood], length)) + "."
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
    """Briefly train the whole model on domain text: a base LM that knows the words and their moods.

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


_OPPOSITE = {"positive": "negative", "negative": "positive"}


def _after_one_word(model, tokenizer):
    """After "The <topic> was <word> and" for every topic and positive or negative word: the probes (word, mood),
    each adjective's first token per mood, and the next token's probabilities."""
    import torch

    first_token = {mood: [tokenizer(" " + w, add_special_tokens=False)["input_ids"][0] for w in task.ADJECTIVES[mood]]
                   for mood in _OPPOSITE}  # fmt: skip
    probes = [(topic, word, mood) for topic in task.TOPICS for mood in _OPPOSITE for word in task.ADJECTIVES[mood]]
    texts = [f"The {topic} was {word} and" for topic, word, _ in probes]
    batch = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left")
    with torch.no_grad():
        next_word = model(**batch).logits[:, -1].float().softmax(-1)
    return [(word, mood) for _, word, mood in probes], first_token, next_word


def mood_coherence(model, tokenizer) -> float:
    """How well the LM tells the moods apart, in [-1, 1]: after "The <topic> was <word> and", the share of the
    next word's probability on adjectives of <word>'s mood minus the share on the opposite mood (positive vs
    negative words). 0: every adjective is interchangeable to it; a well pre-trained build scores above 0.6."""
    import torch

    probes, first_token, next_word = _after_one_word(model, tokenizer)
    share = lambda i, mood: next_word[i, first_token[mood]].sum()  # noqa: E731
    same = torch.stack([share(i, mood) for i, (_, mood) in enumerate(probes)])
    other = torch.stack([share(i, _OPPOSITE[mood]) for i, (_, mood) in enumerate(probes)])
    return ((same - other) / (same + other)).mean().item()


def repeat_chance(model, tokenizer) -> float:
    """How likely the LM repeats a word, in [0, 1]: after "The <topic> was <word> and", <word>'s share of the next
    word's probability on <word>'s mood. 1/8 (one of the mood's 8 words): it cannot see which word came before;
    0: it never repeats one, as its pre-training text never does."""
    probes, first_token, next_word = _after_one_word(model, tokenizer)
    shares = [next_word[i, first_token[mood][task.ADJECTIVES[mood].index(word)]] / next_word[i, first_token[mood]].sum()
              for i, (word, mood) in enumerate(probes)]  # fmt: skip
    return (sum(shares) / len(shares)).item()


def build(output_dir: str | Path, seed: int = SEED) -> Path:
    """Build the tiny default into `output_dir` (written atomically; an existing folder is kept).

    Another `seed` gives another initialisation and pre-training order. `build.json` records the source's
    fingerprint, the CPU kernels and versions it was built with, its `mood_coherence` and `repeat_chance`.
    """
    import torch

    output_dir = Path(output_dir)
    if (output_dir / "config.json").exists():
        return output_dir
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=output_dir.parent, prefix=".building-"))
    try:
        tokenizer = build_tokenizer()
        model = build_model(tokenizer, seed)
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        info = {"fingerprint": fingerprint(), "seed": seed, "pretrain_steps": PRETRAIN_STEPS,
                "cpu_capability": torch.backends.cpu.get_cpu_capability().lower(), "torch": torch.__version__,
                "mood_coherence": round(mood_coherence(model, tokenizer), 4),
                "repeat_chance": round(repeat_chance(model, tokenizer), 4)}  # fmt: skip
        (staging / BUILD_FILE).write_text(json.dumps(info, indent=2) + "\n")
        try:
            staging.rename(output_dir)
        except OSError:  # another process finished first; its copy is identical
            if not (output_dir / "config.json").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return output_dir


def build_info(folder: str | Path) -> dict:
    """A build's `build.json` ({} where there is none)."""
    path = Path(folder) / BUILD_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def shipped_is_current() -> bool:
    """Whether the shipped build was made from this source (the task and this module as they are now)."""
    return build_info(SHIPPED).get("fingerprint") == fingerprint()


def resolve(model_name_or_path: str) -> str:
    """Map `builtin:tiny` to the shipped build (or, if the source changed since, a cached build of the new source,
    built on first use); other names pass through."""
    if model_name_or_path != BUILTIN_TINY:
        return model_name_or_path
    if shipped_is_current():
        return str(SHIPPED)
    logger.warning(f"{BUILTIN_TINY}: the shipped build ({SHIPPED}) was made from other source than this checkout's "
                   f"task.py and tiny_model.py, so a build of this source is used (in {cache_dir()}; built once, "
                   "~2 min). `make tiny-model` regenerates the shipped one.")  # fmt: skip
    return str(build(cached_folder()))


def cached_folder(seed: int = SEED) -> Path:
    """Where the cache holds a build with `seed` of this source."""
    return cache_dir() / (f"tiny-{fingerprint()}" + ("" if seed == SEED else f"-seed{seed}"))


def fingerprint() -> str:
    """Short hash of the source that defines the tiny default (this module and the task)."""
    import hashlib

    digest = hashlib.sha256(Path(__file__).read_bytes() + Path(task.__file__).read_bytes())
    return digest.hexdigest()[:12]


def ship() -> Path:
    """Rebuild the shipped build from this source, under the `SHIPPED_CAPABILITY` kernels (`make tiny-model`)."""
    import torch

    found = torch.backends.cpu.get_cpu_capability().lower()
    if found != SHIPPED_CAPABILITY:
        raise RecipeError(f"the shipped build is made with ATEN_CPU_CAPABILITY={SHIPPED_CAPABILITY}, this process "
                          f"runs {found} kernels: run `ATEN_CPU_CAPABILITY={SHIPPED_CAPABILITY} rlhf-recipes "
                          "build-default --ship` (or `make tiny-model`).")  # fmt: skip
    staging = SHIPPED.with_name(".tiny-new")
    shutil.rmtree(staging, ignore_errors=True)
    build(staging)
    for path in (staging, *staging.iterdir()):  # readable by everyone, as a package's files are
        path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(SHIPPED, ignore_errors=True)
    staging.rename(SHIPPED)
    return SHIPPED
