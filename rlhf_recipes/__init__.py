"""The classic RLHF pipeline (SFT, reward model, PPO) as recipes over TRL."""

import logging

# bitsandbytes logs this line when it is imported on a CPU with AVX512-BF16 and without the optional `kernels`
# package (4-bit runs without it). Stage modules import it before any of our code runs, so its filter is set here.
logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(lambda record: "kernels-community" not in str(record.msg))
