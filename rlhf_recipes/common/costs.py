"""What a stage costs: its wall time and peak memory, measured around it by the pipeline."""

import threading
import time

import psutil
import torch

POLL_SECONDS = 0.05


class StageCost:
    """Context manager: `seconds` and `peak_mb` of the block it wraps.

    Peak memory is what torch allocated on the GPU when there is one, else the process's peak resident
    memory while the block ran (sampled every POLL_SECONDS; it includes what was loaded before the block).
    """

    def __enter__(self):
        self.seconds = self.peak_mb = None
        self._gpu = torch.cuda.is_available()
        self._peak_bytes = 0
        if self._gpu:
            torch.cuda.reset_peak_memory_stats()
        else:
            self._done = threading.Event()
            self._watcher = threading.Thread(target=self._watch, daemon=True)
            self._watcher.start()
        self._start = time.perf_counter()
        return self

    def _watch(self):
        process = psutil.Process()
        while True:
            self._peak_bytes = max(self._peak_bytes, process.memory_info().rss)
            if self._done.wait(POLL_SECONDS):
                return

    def __exit__(self, *exc):
        self.seconds = round(time.perf_counter() - self._start, 1)
        if self._gpu:
            self._peak_bytes = torch.cuda.max_memory_allocated()
        else:
            self._done.set()
            self._watcher.join()
        self.peak_mb = round(self._peak_bytes / 2**20)
        return False
