"""Every accepted dataset format -> the columns TRL expects, one table per family (`SFT_FORMATS`, `PREFERENCE_FORMATS`,
`PROMPT_FORMATS`, what they share in `shared`); every check on the rows is here. The formats: docs/data-formats.md."""

from rlhf_recipes.common.formats.preferences import (
    PREFERENCE_FORMATS,
    split_by_prompt,
    split_transcripts,
    to_preference_pairs,
)
from rlhf_recipes.common.formats.prompts import PROMPT_FORMATS, to_prompts
from rlhf_recipes.common.formats.sft import SFT_FORMATS, to_sft_examples
from rlhf_recipes.common.formats.shared import (
    Format,
    canonical_columns,
    prompt_turns,
    rename_columns,
    report_dropped,
    transcript_prompt_length,
)

__all__ = [
    "PREFERENCE_FORMATS",
    "PROMPT_FORMATS",
    "SFT_FORMATS",
    "Format",
    "canonical_columns",
    "prompt_turns",
    "rename_columns",
    "report_dropped",
    "split_by_prompt",
    "split_transcripts",
    "to_preference_pairs",
    "to_prompts",
    "to_sft_examples",
    "transcript_prompt_length",
]
