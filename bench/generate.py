"""Benchmark: synthetic log generation throughput and peak memory.

Generates N requests (default 100k) in a child process (so its peak RSS is
its own), then, as a baseline measured in the same run, rewrites the very same
tables with plain pyarrow (read + write Parquet, no simulation). Prints rows
per second of both and their ratio, and the generator's peak memory.

    python bench/generate.py [--requests 100000] [--out DIR]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import pyarrow.parquet as pq

_CHILD = """
import json, sys
from tfx_pipeline.synthetic import config, write
summary = write.write_logs(sys.argv[1], config.WorldConfig(
    num_requests=int(sys.argv[2]), seed=0), overwrite=True)
print(json.dumps(summary))
"""


def _rewrite_baseline(logs_dir: str, out_dir: str) -> float:
  start = time.perf_counter()
  for table in sorted(n for n in os.listdir(logs_dir)
                      if os.path.isdir(os.path.join(logs_dir, n))):
    os.makedirs(os.path.join(out_dir, table), exist_ok=True)
    for name in sorted(os.listdir(os.path.join(logs_dir, table))):
      data = pq.read_table(os.path.join(logs_dir, table, name))
      pq.write_table(data, os.path.join(out_dir, table, name))
  return time.perf_counter() - start


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--requests", type=int, default=100_000)
  parser.add_argument("--out", default=None,
                      help="logs directory (default: a temporary one)")
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as tmp:
    out = args.out or os.path.join(tmp, "logs")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, out,
                           str(args.requests)],
                          check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = sum(summary["rows"].values())
    baseline = _rewrite_baseline(out, os.path.join(tmp, "rewrite"))
  print(f"requests:                 {args.requests:,}")
  print(f"rows written (all tables): {rows:,}")
  print(f"generate (process, incl. imports): {seconds:8.2f} s "
        f"{rows / seconds:12,.0f} rows/s")
  print(f"baseline pyarrow rewrite:          {baseline:8.2f} s "
        f"{rows / baseline:12,.0f} rows/s")
  print(f"generate / rewrite time ratio:     {seconds / baseline:8.2f}x")
  print(f"generator peak RSS:                {peak_mb:8.0f} MB")


if __name__ == "__main__":
  main()
