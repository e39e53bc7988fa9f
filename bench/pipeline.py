"""Benchmark: the whole local pipeline at 20k, 100k and 300k generated requests: time and memory per component, and their growth.

For each size, generates logs, then runs `coarse-rank run` in a child
process (LocalDagRunner, Beam DirectRunner in --beam-mode) while
testing/memory.py samples the resident memory of that process and of its
Beam worker processes. Prints, per component (its time span from ML
Metadata): its wall time, the peak RSS of the run's own process (the
executors' driver code: the validator's, the Trainer's input, ...) and of
its largest Beam worker. Then the growth factor of each figure from the
smallest to the largest size, next to the growth of the requests. A "-"
is a figure not measured: no job server (DirectRunner), or a component
shorter than the 0.2 s sampling interval (no sample in its span).

DirectRunner keeps a stage's intermediate data in its workers' memory by
design, so a worker's growth is the local runner's, not the pipeline's:
a cluster runner spills it. The run's own process is what must not grow.

With `--runner portable` the Beam stages run as on a cluster, through
Beam's portable API: `--runner=PortableRunner` with Beam's job server in a
process of its own (the runner: FnApiRunner, which holds the data passed
between fused stages) and a worker pool whose workers run the stages
(`--environment_type=EXTERNAL`, testing/beam_workers.py). The run's own
process then holds only what the executors' code does, and the table gives
the job server's peak apart.

    python bench/pipeline.py [--requests 20000 100000 300000]
                             [--train-steps 2000] [--beam-mode ...]
                             [--runner {direct,portable}]
"""

import argparse
import contextlib
import math
import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Sequence, Tuple

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from testing import beam_workers  # pylint: disable=g-import-not-at-top,wrong-import-position
from testing import memory  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline import run_result  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline.synthetic import config as world_config  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline.synthetic import write  # pylint: disable=g-import-not-at-top,wrong-import-position

WHOLE_RUN = "whole run"
RUNNERS = ("direct", "portable")
# component -> (seconds, driver peak MB, job server peak MB (NaN if the
# runner is in the driver), largest worker peak MB).
Figures = Dict[str, Tuple[float, float, float, float]]


def _run(logs: str, out: str, train_steps: int, beam_mode: str,
         beam_args: List[str], services: Sequence[memory.Sampler],
         requests: int) -> Tuple[float, memory.Sampler]:
  """`coarse-rank run` in a child process; its seconds and its memory.

  `services` (samplers of the job server and worker pool) sample while
  it runs.
  """
  start = time.perf_counter()
  with tempfile.TemporaryFile("w+") as stderr:
    process = subprocess.Popen(
        [sys.executable, "-m", "tfx_pipeline.cli", "run", "--logs", logs,
         "--output", out, "--train-steps", str(train_steps), "--beam-mode",
         beam_mode, *(["--", *beam_args] if beam_args else [])],
        stdout=subprocess.DEVNULL, stderr=stderr,
        env=dict(os.environ, TF_USE_LEGACY_KERAS="1"))
    with contextlib.ExitStack() as stack:
      driver = stack.enter_context(memory.Sampler(process.pid, interval=0.2))
      for sampler in services:
        stack.enter_context(sampler)
      process.wait()
    if process.returncode:
      stderr.seek(0)
      raise SystemExit(f"run failed at {requests} requests:\n"
                       f"{stderr.read()[-4000:]}")
  return time.perf_counter() - start, driver


def _bench(requests: int, train_steps: int, beam_mode: str, runner: str,
           tmp: str) -> Figures:
  logs = os.path.join(tmp, f"logs{requests}")
  out = os.path.join(tmp, f"run{requests}")
  write.write_logs(logs, world_config.WorldConfig(num_requests=requests),
                   overwrite=True)
  with contextlib.ExitStack() as stack:
    beam_args, jobs_memory, pool_memory = [], None, None
    if runner == "portable":
      services = os.path.join(tmp, f"beam{requests}")
      os.makedirs(services, exist_ok=True)
      jobs = stack.enter_context(beam_workers.job_server(services))
      pool = stack.enter_context(beam_workers.worker_pool(services))
      beam_args = pool.beam_args(job_endpoint=jobs.endpoint)
      jobs_memory = memory.Sampler(jobs.pid, interval=0.2)
      pool_memory = memory.Sampler(pool.pid, interval=0.2)
    seconds, driver = _run(
        logs, out, train_steps, beam_mode, beam_args,
        [s for s in (jobs_memory, pool_memory) if s], requests)

  def peaks(start=float("-inf"), end=float("inf")):
    """Driver, job server and largest worker peak MB in a time window."""
    if runner == "portable":
      return (driver.peak_mb(start, end), jobs_memory.peak_mb(start, end),
              pool_memory.peak_mb(start, end, of=memory.CHILDREN))
    return (driver.peak_mb(start, end), float("nan"),
            driver.peak_mb(start, end, of=memory.CHILDREN))

  figures = {WHOLE_RUN: (seconds, *peaks())}
  for run in run_result.read_run(out).components:
    figures[run.component] = (run.seconds,
                              *peaks(run.started, run.started + run.seconds))
  return figures


# The figures of a component that did not run at a size: none measured.
_NOT_RUN = (math.nan,) * 4


def _mb(value: float) -> str:
  return "-" if math.isnan(value) else f"{value:,.0f}"


def _table(requests: List[int], by_size: Dict[int, Figures]) -> str:
  """Seconds / driver / job server / worker MB per component and size, then growth."""
  components = list(by_size[requests[0]])
  small, large = requests[0], requests[-1]
  width = 34
  head = f"{'component':<24}" + "".join(
      f"{f'{n:,} requests':>{width}}" for n in requests)
  if len(requests) > 1:
    head += f"{f'growth x{large / small:.0f}':>{width}}"
  lines = [head, f"{'':<24}" + f"{'s / driver / job server / worker':>{width}}"
           * (len(requests) + (len(requests) > 1))]
  for name in components:
    row = f"{name:<24}"
    for n in requests:
      s, *mbs = by_size[n].get(name, _NOT_RUN)
      seconds = "-" if math.isnan(s) else f"{s:.0f}"
      row += f"{' / '.join([seconds] + [_mb(m) for m in mbs]):>{width}}"
    if len(requests) > 1:
      growth = [b / a if a else float("nan") for a, b in zip(
          by_size[small].get(name, _NOT_RUN),
          by_size[large].get(name, _NOT_RUN))]
      text = " / ".join("-" if math.isnan(g) else f"{g:.2f}" for g in growth)
      row += f"{text:>{width}}"
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
  parser.add_argument("--runner", default=RUNNERS[0], choices=RUNNERS,
                      help="direct: Beam's DirectRunner in the run's process "
                           "(--beam-mode); portable: PortableRunner with a "
                           "job server and a worker pool of their own "
                           "(default: %(default)s)")
  args = parser.parse_args()
  by_size = {}
  beam = (args.beam_mode if args.runner == "direct"
          else "PortableRunner, job server and workers out of the run")
  with tempfile.TemporaryDirectory() as tmp:
    for n in sorted(args.requests):  # The table so far after each size.
      by_size[n] = _bench(n, args.train_steps, args.beam_mode, args.runner,
                          tmp)
      seconds, driver, jobs, worker = by_size[n][WHOLE_RUN]
      print(f"\n{n:,} requests, {args.train_steps} train steps, Beam "
            f"{beam}, {os.cpu_count()} CPUs: end to end {seconds:.1f} s, "
            f"peak RSS (sampled every 0.2 s) of the run's process "
            f"{driver:,.0f} MB, of the job server {_mb(jobs)} MB, of the "
            f"largest Beam worker {worker:,.0f} MB")
      print(_table(list(by_size), by_size), flush=True)


if __name__ == "__main__":
  main()
