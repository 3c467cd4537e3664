"""The classic RLHF pipeline (SFT, reward model, PPO) as recipes over TRL."""

import logging

# On a CPU with AVX512-BF16, bitsandbytes reaches for the kernels-community 4-bit kernel when it is imported: without
# the optional `kernels` package it logs that it could not, with it and the hub offline `kernels` logs that it skipped
# the publisher check. 4-bit runs either way. Stage modules import bitsandbytes before any of our code runs, so the
# filters are set here.
for _name in ("bitsandbytes.backends.cpu.ops", "kernels._internals.hf_hub"):
    logging.getLogger(_name).addFilter(lambda record: "kernels-community" not in str(record.msg))
del _name
