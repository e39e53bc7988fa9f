"""Benchmark: the whole local pipeline at 20k, 100k and 300k generated requests: time and memory per component, and their growth.

For each size, generates logs, then runs `coarse-rank run` in a child
process (LocalDagRunner, Beam DirectRunner in --beam-mode) while
testing/memory.py samples the resident memory of that process and of its
Beam worker processes. Prints, per component (its time span from ML
Metadata): its wall time, the peak RSS of the run's own process (the
executors' driver code: the validator's, the Trainer's input, ...) and of
its largest Beam worker. Then the growth factor of each figure from the
smallest to the largest size, next to the growth of the requests.

DirectRunner keeps a stage's intermediate data in its workers' memory by
design, so a worker's growth is the local runner's, not the pipeline's:
a cluster runner spills it. The run's own process is what must not grow.

    python bench/pipeline.py [--requests 20000 100000 300000]
                             [--train-steps 2000] [--beam-mode ...]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Tuple

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from testing import memory  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline import local_runner  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline.synthetic import config as world_config  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline.synthetic import write  # pylint: disable=g-import-not-at-top,wrong-import-position

WHOLE_RUN = "whole run"
# component -> (seconds, driver peak MB, largest worker peak MB).
Figures = Dict[str, Tuple[float, float, float]]


def _bench(requests: int, train_steps: int, beam_mode: str,
           tmp: str) -> Figures:
  logs = os.path.join(tmp, f"logs{requests}")
  out = os.path.join(tmp, f"run{requests}")
  write.write_logs(logs, world_config.WorldConfig(num_requests=requests),
                   overwrite=True)
  start = time.perf_counter()
  with tempfile.TemporaryFile("w+") as stderr:
    process = subprocess.Popen(
        [sys.executable, "-m", "tfx_pipeline.cli", "run", "--logs", logs,
         "--output", out, "--train-steps", str(train_steps), "--beam-mode",
         beam_mode], stdout=subprocess.DEVNULL, stderr=stderr,
        env=dict(os.environ, TF_USE_LEGACY_KERAS="1"))
    with memory.Sampler(process.pid, interval=0.2) as sampler:
      process.wait()
    if process.returncode:
      stderr.seek(0)
      raise SystemExit(f"run failed at {requests} requests:\n"
                       f"{stderr.read()[-4000:]}")
  seconds = time.perf_counter() - start
  figures = {WHOLE_RUN: (seconds, sampler.peak_mb(),
                         sampler.peak_mb(of=memory.CHILDREN))}
  for run in local_runner.read_run(out).components:
    end = run.started + run.seconds
    figures[run.component] = (
        run.seconds, sampler.peak_mb(run.started, end),
        sampler.peak_mb(run.started, end, of=memory.CHILDREN))
  return figures


def _table(requests: List[int], by_size: Dict[int, Figures]) -> str:
  """Seconds / driver MB / worker MB per component and size, then growth."""
  components = list(by_size[requests[0]])
  small, large = requests[0], requests[-1]
  head = f"{'component':<24}" + "".join(
      f"{f'{n:,} requests':>28}" for n in requests)
  if len(requests) > 1:
    head += f"{f'growth x{large / small:.0f}':>24}"
  lines = [head, f"{'':<24}" + f"{'s / driver MB / worker MB':>28}"
           * len(requests) + (f"{'s / driver / worker':>24}"
                              if len(requests) > 1 else "")]
  for name in components:
    row = f"{name:<24}"
    for n in requests:
      s, driver, worker = by_size[n].get(name, (0.0, 0.0, 0.0))
      row += f"{f'{s:.0f} / {driver:,.0f} / {worker:,.0f}':>28}"
    if len(requests) > 1:
      growth = [b / a if a else float("nan") for a, b in zip(
          by_size[small].get(name, (0, 0, 0)),
          by_size[large].get(name, (0, 0, 0)))]
      row += f"{' / '.join(f'{g:.2f}' for g in growth):>24}"
    lines.append(row)
  return "\n".join(lines)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--requests", type=int, nargs="+",
                      default=[20_000, 100_000, 300_000])
  parser.add_argument("--train-steps", type=int,
                      default=config_lib.PipelineConfig().train_steps)
  parser.add_argument("--beam-mode", default=config_lib.BEAM_MODES[0],
                      choices=config_lib.BEAM_MODES)
  args = parser.parse_args()
  by_size = {}
  with tempfile.TemporaryDirectory() as tmp:
    for n in sorted(args.requests):  # The table so far after each size.
      by_size[n] = _bench(n, args.train_steps, args.beam_mode, tmp)
      seconds, driver, worker = by_size[n][WHOLE_RUN]
      print(f"\n{n:,} requests, {args.train_steps} train steps, Beam "
            f"{args.beam_mode}, {os.cpu_count()} CPUs: end to end "
            f"{seconds:.1f} s, peak RSS (sampled every 0.2 s) of the run's "
            f"process {driver:,.0f} MB, of its largest Beam worker "
            f"{worker:,.0f} MB")
      print(_table(list(by_size), by_size), flush=True)


if __name__ == "__main__":
  main()
