"""The benchmarks' memory sampler: a process tree's RSS over time, peaks per time window."""

import math
import os
import subprocess
import sys
import time

from testing import memory

MB = 1024 * 1024
# A child that holds 200 MB (pages written, so resident) for half a second,
# started by a parent that holds little.
_PARENT = f"""
import subprocess, sys
subprocess.run([sys.executable, "-c",
                "import time; b = bytearray({200 * MB}); time.sleep(0.5)"])
"""


def test_peaks_of_the_root_and_of_its_largest_child():
  process = subprocess.Popen([sys.executable, "-c", _PARENT])
  with memory.Sampler(process.pid, interval=0.02) as sampler:
    process.wait()
  assert sampler.peak_mb(of=memory.CHILDREN) >= 200
  assert sampler.peak_mb() < 100
  assert sampler.peak_mb(of=memory.TOTAL) >= sampler.peak_mb(
      of=memory.CHILDREN)


def test_a_window_without_samples_is_not_measured():
  sampler = memory.Sampler(os.getpid())
  sampler.samples.append(memory.Sample(10.0, 5 * MB, 0, 5 * MB))
  sampler.samples.append(memory.Sample(10.2, 7 * MB, 0, 7 * MB))
  assert sampler.peak_mb() == 7
  assert sampler.peak_mb(9.0, 10.1) == 5
  assert math.isnan(sampler.peak_mb(10.05, 10.15))
  assert math.isnan(sampler.peak_mb(11.0, time.time()))
