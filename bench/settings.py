"""What the benchmarks train: the quickstart YAMLs, with per-stage and per-model overrides."""

STAGES = {
    "sft": {"args": ["--num_train_epochs", "1"], "data": "sft.jsonl", "plain_data": "sft_chat.jsonl"},
    "reward": {
        "args": ["--num_train_epochs", "1", "--eval_strategy", "no", "--eval_fraction", "0"],
        "data": "pairs.jsonl",
        "plain_data": "pairs_chat.jsonl",
    },
    "ppo": {
        "args": ["--total_episodes", "256", "--num_sample_generations", "0"],
        "data": "prompts.jsonl",
        "plain_data": "prompts.jsonl",
    },
}

# Model shapes. `tiny` is the built-in default; the others are randomly initialised (weights do not
# matter for speed) with the built-in tokenizer; `vocab_size` keeps the real LM-head cost.
MODELS = {
    "tiny": {"config": None, "rows": 1024, "response_words": None, "args": {}},
    "small": {  # ~19M parameters, the tiny model's family
        "config": dict(
            model_type="llama",
            hidden_size=448,
            intermediate_size=1792,
            num_hidden_layers=6,
            num_attention_heads=8,
            num_key_value_heads=8,
            tie_word_embeddings=True,
        ),
        "rows": 1024,
        "response_words": None,
        "args": {},
    },
    "qwen2.5-0.5b": {  # Qwen/Qwen2.5-0.5B's configuration; sequences of ~1024 tokens
        "config": dict(
            model_type="qwen2",
            hidden_size=896,
            intermediate_size=4864,
            num_hidden_layers=24,
            num_attention_heads=14,
            num_key_value_heads=2,
            vocab_size=151936,
            tie_word_embeddings=True,
            rope_theta=1000000.0,
        ),
        "rows": 512,
        "response_words": 1000,
        "args": {
            "sft": ["--max_length", "1024", "--per_device_train_batch_size", "8", "--learning_rate", "1e-4"],
            "reward": ["--max_length", "1024", "--per_device_train_batch_size", "8", "--learning_rate", "1e-4"],
            "ppo": [
                "--response_length",
                "256",
                "--per_device_train_batch_size",
                "32",
                "--local_rollout_forward_batch_size",
                "32",
                "--learning_rate",
                "1e-5",
            ],
        },
    },
    "qwen2.5-1.5b": {  # Qwen/Qwen2.5-1.5B's configuration
        "config": dict(
            model_type="qwen2",
            hidden_size=1536,
            intermediate_size=8960,
            num_hidden_layers=28,
            num_attention_heads=12,
            num_key_value_heads=2,
            vocab_size=151936,
            tie_word_embeddings=True,
            rope_theta=1000000.0,
        ),
        "rows": 512,
        "response_words": 1000,
        "args": {
            "sft": ["--max_length", "1024", "--per_device_train_batch_size", "4", "--learning_rate", "1e-4"],
            "reward": ["--max_length", "1024", "--per_device_train_batch_size", "4", "--learning_rate", "1e-4"],
            "ppo": [
                "--response_length",
                "256",
                "--per_device_train_batch_size",
                "16",
                "--local_rollout_forward_batch_size",
                "16",
                "--learning_rate",
                "1e-5",
            ],
        },
    },
    "qwen2.5-7b": {  # Qwen/Qwen2.5-7B's configuration, saved in bf16: for the "7-8B QLoRA on 24 GB" claim
        "config": dict(
            model_type="qwen2",
            hidden_size=3584,
            intermediate_size=18944,
            num_hidden_layers=28,
            num_attention_heads=28,
            num_key_value_heads=4,
            vocab_size=152064,
            tie_word_embeddings=False,
            rope_theta=1000000.0,
        ),
        "rows": 64,
        "response_words": 1000,
        "dtype": "bfloat16",
        "args": {
            "sft": [
                "--max_length",
                "1024",
                "--per_device_train_batch_size",
                "2",
                "--gradient_accumulation_steps",
                "8",
                "--activation_checkpointing",
                "true",
                "--learning_rate",
                "1e-4",
            ]
        },
    },
}

# Dense bf16 peak of a GPU (no sparsity), FLOP/s, from the vendor's data sheets; the first name found in
# torch.cuda.get_device_name() wins, so the PCIe H100 comes before the SXM one.
GPU_PEAK_BF16 = {"H100 PCIe": 756e12, "H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12}
