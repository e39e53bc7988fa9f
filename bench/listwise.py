"""Benchmark: the Beam listwise stage against the single-process pandas reference.

For each size, generates synthetic logs, runs the Beam stage (DirectRunner,
multi-processing, 2 workers) in a fresh child process and the reference in
this one, on the same logs; checks that their examples, eval sets and
reports are identical, and prints both throughputs (requests per second) and
their ratio. Beam's time includes its process start and imports.

    python bench/listwise.py [--requests 20000 100000] [--mode multi_processing]
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # pylint: disable=g-import-not-at-top

from components.listwise import beam_pipeline  # pylint: disable=g-import-not-at-top
from components.listwise import params as params_lib  # pylint: disable=g-import-not-at-top
from testing import listwise_reference as reference  # pylint: disable=g-import-not-at-top
from tfx_pipeline.synthetic import config as config_lib  # pylint: disable=g-import-not-at-top
from tfx_pipeline.synthetic import write  # pylint: disable=g-import-not-at-top


_BEAM_CHILD = """
import json, sys
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from components.listwise import beam_pipeline, params
logs, out, mode, workers = sys.argv[1:5]
options = PipelineOptions(["--runner=DirectRunner",
                           f"--direct_running_mode={mode}",
                           f"--direct_num_workers={workers}"])
paths = beam_pipeline.OutputPaths.under(out)
report = beam_pipeline.run(logs, params.ListwiseParams(), paths,
                           lambda: beam.Pipeline(options=options))
print(json.dumps(report))
"""


def _run_beam(logs: str, out: str, mode: str, workers: int) -> dict:
  env = dict(os.environ, TF_USE_LEGACY_KERAS="1")
  proc = subprocess.run(
      [sys.executable, "-c", _BEAM_CHILD, logs, out, mode, str(workers)],
      capture_output=True, text=True, env=env, check=False)
  if proc.returncode:
    raise SystemExit(f"Beam stage failed:\n{proc.stderr[-3000:]}")
  return json.loads(proc.stdout.strip().splitlines()[-1])


def _records(folder):
  files = glob.glob(os.path.join(folder, "*"))
  return sorted(r.numpy() for r in
                tf.data.TFRecordDataset(files, compression_type="GZIP"))


def _bench(requests: int, mode: str, workers: int, tmp: str) -> dict:
  logs = os.path.join(tmp, f"logs{requests}")
  write.write_logs(logs, config_lib.WorldConfig(num_requests=requests,
                                                seed=0), overwrite=True)
  params = params_lib.ListwiseParams()

  out_dir = os.path.join(tmp, f"beam{requests}")
  out = beam_pipeline.OutputPaths.under(out_dir)
  start = time.perf_counter()
  report = _run_beam(logs, out_dir, mode, workers)
  beam_s = time.perf_counter() - start

  start = time.perf_counter()
  ref = reference.build_reference(logs, params)
  ref_s = time.perf_counter() - start

  agree = (all(sorted(ref.examples[split]) == _records(out.split(split))
               for split in ref.examples)
           and sorted(ref.eval_candidates) == _records(out.eval_candidates)
           and ref.report == report)
  return {"requests": requests, "reference_s": ref_s, "beam_s": beam_s,
          "agree": agree}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--requests", type=int, nargs="+",
                      default=[20_000, 100_000])
  parser.add_argument("--mode", default="multi_processing",
                      choices=["multi_processing", "in_memory",
                               "multi_threading"])
  parser.add_argument("--workers", type=int, default=2)
  args = parser.parse_args()
  rows = []
  with tempfile.TemporaryDirectory() as tmp:
    for n in args.requests:
      rows.append(_bench(n, args.mode, args.workers, tmp))
      r = rows[-1]
      print(f"{n:>8,} requests: reference {r['reference_s']:7.1f} s "
            f"({n / r['reference_s']:8,.0f} req/s)  beam[{args.mode}, "
            f"{args.workers}] {r['beam_s']:7.1f} s "
            f"({n / r['beam_s']:8,.0f} req/s)  beam/reference time "
            f"{r['beam_s'] / r['reference_s']:5.2f}x  outputs agree: "
            f"{r['agree']}", flush=True)
  if not all(r["agree"] for r in rows):
    raise SystemExit("Beam and reference outputs differ")


if __name__ == "__main__":
  main()
