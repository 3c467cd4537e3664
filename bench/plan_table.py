"""Plan every shipped real recipe's sft, reward and ppo YAMLs on the GPUs of the README's "What fits where" table.

    python bench/plan_table.py            # writes bench/PLAN_TABLE.json and bench/PLAN_TABLE.md

The hub is not reachable where this was written, so the models' configs come from bench/model_configs/<name>/
config.json, typed by hand from the published config.json of each model (only the fields that shape memory, and
only where the published numbers are known exactly); a cached or local config is used the same way by
`rlhf-recipes plan`. Each YAML is traced once in bf16 mixed precision (a T4's fp16 holds the same bytes) and judged
per GPU.
"""

import json
import os
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rlhf_recipes.planning import gpus  # noqa: E402
from rlhf_recipes.planning.plan import estimate, gib, workload  # noqa: E402

CONFIGS = REPO / "bench" / "model_configs"
HUB_CONFIGS = {  # hub id -> the hand-typed config
    "Qwen/Qwen2.5-0.5B-Instruct": "Qwen2.5-0.5B-Instruct",
    "Qwen/Qwen2.5-7B-Instruct": "Qwen2.5-7B-Instruct",
    "EleutherAI/pythia-1b-deduped": "pythia-1b-deduped",
    "openai-community/gpt2": "gpt2",
    "SamLowe/roberta-base-go_emotions": "roberta-base-go_emotions",
}
RECIPES = ["tutorial-gpt2", "emotion-gpt2", "hh-rlhf-qwen2.5-0.5b", "tldr-pythia-1b", "ultrafeedback-qwen2.5-7b-qlora"]
TABLE_GPUS = ["T4", "L4", "A100-40", "A100-80", "H100"]
STAGES = ("sft", "reward", "ppo")


def plan_all() -> list[dict]:
    configs = {hub_id: str(CONFIGS / name) for hub_id, name in HUB_CONFIGS.items()}
    rows = []
    for recipe in RECIPES:
        for path in sorted((REPO / "recipes" / recipe).glob("*.yaml")):
            if path.stem.split("_")[0] not in STAGES:
                continue
            row = {"recipe": recipe, "yaml": path.name, "gpus": {}}
            started = time.perf_counter()  # fp16 (T4) and bf16 hold the same bytes: one trace serves every GPU
            planned = estimate(workload(path, configs=configs, autocast=torch.bfloat16))
            row["seconds"] = round(time.perf_counter() - started, 1)
            for name in TABLE_GPUS:
                label, capacity, _ = gpus.gpu(name)
                row["gpus"][label] = {
                    "peak_gib": round(planned.peak / gpus.GIB, 2),
                    "verdict": gpus.verdict(planned.peak, capacity),
                    "phase": planned.phase,
                    "parts_gib": {k: round(v / gpus.GIB, 3) for k, v in planned.parts.items()},
                    "formula": sorted(planned.formula),
                }
            print(
                f"{recipe}/{path.name} ({row['seconds']} s): "
                + ", ".join(f"{g} {c['peak_gib']} GiB {c['verdict']}" for g, c in row["gpus"].items())
            )
            rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| recipe | stage YAML | " + " | ".join(TABLE_GPUS) + " |",
        "| --- | --- | " + " | ".join("---" for _ in TABLE_GPUS) + " |",
    ]
    for row in rows:
        cells = [f"{gib(row['gpus'][g]['peak_gib'] * gpus.GIB)} {row['gpus'][g]['verdict']}" for g in TABLE_GPUS]
        lines.append(f"| {row['recipe']} | {row['yaml']} | " + " | ".join(cells) + " |")
    lines.append(
        f"\nPlanned by `bench/plan_table.py` (rlhf-recipes plan's estimate) from hand-typed configs in "
        f"bench/model_configs/; the CUDA allocator factor is {gpus.ALLOCATOR_FACTOR}, not yet measured on a GPU."
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    found = plan_all()
    (REPO / "bench" / "PLAN_TABLE.json").write_text(json.dumps(found, indent=1) + "\n")
    (REPO / "bench" / "PLAN_TABLE.md").write_text(markdown(found))
