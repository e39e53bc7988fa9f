"""Benchmark: the whole local pipeline at 20k and 100k generated requests.

For each size, generates logs, then runs `coarse-rank run` in a child
process (LocalDagRunner, Beam DirectRunner in --beam-mode) and
prints the end-to-end wall time, each component's time (from ML Metadata)
and the peak resident memory of the run's process tree (the largest process:
the run itself or one of its Beam workers).

    python bench/pipeline.py [--requests 20000 100000] [--train-steps 2000]
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from tfx_pipeline import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline import local_runner  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline.synthetic import config as world_config  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline.synthetic import write  # pylint: disable=g-import-not-at-top,wrong-import-position


def _bench(requests: int, train_steps: int, beam_mode: str, tmp: str):
  logs = os.path.join(tmp, f"logs{requests}")
  out = os.path.join(tmp, f"run{requests}")
  write.write_logs(logs, world_config.WorldConfig(num_requests=requests),
                   overwrite=True)
  before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
  start = time.perf_counter()
  proc = subprocess.run(
      [sys.executable, "-m", "tfx_pipeline.cli", "run", "--logs", logs,
       "--output", out, "--train-steps", str(train_steps), "--beam-mode",
       beam_mode], capture_output=True, text=True, check=False,
      env=dict(os.environ, TF_USE_LEGACY_KERAS="1"))
  seconds = time.perf_counter() - start
  if proc.returncode:
    raise SystemExit(f"run failed at {requests} requests:\n"
                     f"{proc.stderr[-4000:]}")
  peak_mb = max(before,
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
  return seconds, peak_mb, local_runner.read_run(out).components


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--requests", type=int, nargs="+",
                      default=[20_000, 100_000])
  parser.add_argument("--train-steps", type=int,
                      default=config_lib.PipelineConfig().train_steps)
  parser.add_argument("--beam-mode", default=config_lib.BEAM_MODES[0],
                      choices=config_lib.BEAM_MODES)
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as tmp:
    for n in args.requests:
      seconds, peak_mb, runs = _bench(n, args.train_steps, args.beam_mode,
                                      tmp)
      print(f"\n{n:,} requests, {args.train_steps} train steps, Beam "
            f"{args.beam_mode}: end to end {seconds:.1f} s, peak RSS of the "
            f"largest process {peak_mb:,.0f} MB")
      print(local_runner.format_runs(runs, seconds), flush=True)


if __name__ == "__main__":
  main()
