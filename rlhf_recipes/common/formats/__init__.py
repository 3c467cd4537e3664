"""Every accepted dataset format -> the columns TRL expects; every check on the rows lives here.

One table per family, from which detection, conversion and the "expected one of" message come: `SFT_FORMATS`
(`sft`), `PREFERENCE_FORMATS` (`preferences`), `PROMPT_FORMATS` (`prompts`). What they share is in `shared`.
The formats themselves are documented once, in docs/data-formats.md; a test keeps the two in step.
"""

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
