"""SFT vs RLHF on held-out prompts: sampling and scoring, the report, its plots."""
