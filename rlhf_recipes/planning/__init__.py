"""Will it fit? A stage's GPU memory planned from its YAML and the model's config alone (`rlhf-recipes plan`)."""
