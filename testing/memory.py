"""Resident memory of a process tree over time, sampled in a thread (for benchmarks).

    with memory.Sampler(process.pid) as sampler:
      process.wait()
    sampler.peak_mb()                    # the root process itself
    sampler.peak_mb(of=memory.CHILDREN)  # its largest descendant
    sampler.peak_mb(start, end)          # within a time window

A sample is the resident set size (RSS) of the root and of each of its
descendants (e.g. Beam worker processes), so what grows in a worker is told
apart from what grows in the driver. Peaks between samples are missed: the
interval bounds what a sample can miss, not the figures' precision.
"""

import dataclasses
import math
import threading
import time
from typing import List, Optional

import psutil

ROOT = "root"  # The sampled process itself.
CHILDREN = "children"  # Its largest descendant at each sample.
TOTAL = "total"  # The root and all its descendants together.
_MB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Sample:
  """RSS in bytes at one time (time.time())."""
  time: float
  root: int
  children: int
  total: int


class Sampler:
  """Samples the RSS of process `pid` and its descendants every `interval` s."""

  def __init__(self, pid: int, interval: float = 0.1):
    self._process = psutil.Process(pid)
    self._interval = interval
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._run, daemon=True)
    self.samples: List[Sample] = []

  def _rss(self, process: psutil.Process) -> int:
    try:
      return process.memory_info().rss
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
      return 0  # It exited between listing and reading.

  def sample(self) -> Optional[Sample]:
    """Takes one sample now; None once the root has exited."""
    try:
      children = self._process.children(recursive=True)
    except psutil.NoSuchProcess:
      return None
    root = self._rss(self._process)
    sizes = [self._rss(c) for c in children]
    out = Sample(time.time(), root, max(sizes, default=0), root + sum(sizes))
    self.samples.append(out)
    return out

  def _run(self) -> None:
    while not self._stop.is_set() and self.sample() is not None:
      self._stop.wait(self._interval)

  def __enter__(self) -> "Sampler":
    self._thread.start()
    return self

  def __exit__(self, *exc) -> None:
    self._stop.set()
    self._thread.join()

  def peak_mb(self, start: float = float("-inf"), end: float = float("inf"),
              of: str = ROOT) -> float:
    """The largest sampled RSS of `of` (ROOT, CHILDREN, TOTAL) in [start, end], in MB.

    NaN if no sample falls in the window (one shorter than the interval):
    not measured, rather than 0 MB.
    """
    return max((getattr(s, of) for s in self.samples
                if start <= s.time <= end), default=math.nan) / _MB
