"""What each benchmarked stage trains on: the quickstart YAMLs with these overrides."""

SETTINGS = {
    "sft": {"args": ["--num_train_epochs", "1"], "data": "sft.jsonl", "plain_data": "sft_chat.jsonl"},
    "reward": {"args": ["--num_train_epochs", "1", "--eval_strategy", "no", "--eval_fraction", "0"],
               "data": "pairs.jsonl", "plain_data": "pairs_chat.jsonl"},
    "ppo": {"args": ["--total_episodes", "256", "--num_sample_generations", "0"],
            "data": "prompts.jsonl", "plain_data": "prompts.jsonl"},
}  # fmt: skip
