"""What the PPO stage adds around TRL's PPOTrainer: the DDP bridges and a text classifier as the reward."""
