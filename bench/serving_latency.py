"""Benchmark: latency and throughput of the local gRPC server at 1,000 candidates per request.

Trains and exports a small coarse ranker on synthetic logs (or takes a
pushed model folder), starts `coarse-rank serve` in its own process on
loopback, and sends requests of 1 user x 1,000 candidates (5% unknown ids)
from 1, 4 and 16 concurrent clients (threads, one channel each) for a fixed
time each. Each latency is one `RankingClient.rank` call end to end: request
encoding, gRPC, the server's checks and signature call, response decoding.

Measured in the same run and on the same requests: the serving_default
signature of the same SavedModel called in this process (no gRPC), with as
many threads. Prints p50, p99 and QPS of each as a table (target: gRPC p99
<= 10 ms with one client).

    python bench/serving_latency.py [--model-base-path DIR --logs DIR]
                            [--seconds 10] [--candidates 1000]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, List, Tuple

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from models import serving as model_serving  # pylint: disable=g-import-not-at-top
from serving import client as client_lib  # pylint: disable=g-import-not-at-top
from serving import layout  # pylint: disable=g-import-not-at-top
from testing import serving as serving_testing  # pylint: disable=g-import-not-at-top

_CONCURRENCY = (1, 4, 16)
_TARGET_P99_MS = 10.0
_NUM_REQUESTS = 64
# The installed console script, beside this Python.
_COARSE_RANK = os.path.join(os.path.dirname(sys.executable), "coarse-rank")


def _measure(call: Callable[[int, int], None], threads: int,
             seconds: float) -> Tuple[float, float, float]:
  """Runs `call(thread, i)` in `threads` threads for `seconds`; p50, p99 (ms), QPS."""
  latencies: List[List[float]] = [[] for _ in range(threads)]
  stop = threading.Event()

  def worker(t):
    i = 0
    while not stop.is_set():
      start = time.perf_counter()
      call(t, i)
      latencies[t].append(time.perf_counter() - start)
      i += 1

  for t in range(threads):  # Warm up every thread's path first.
    call(t, 0)
  pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
  start = time.perf_counter()
  for thread in pool:
    thread.start()
  time.sleep(seconds)
  stop.set()
  for thread in pool:
    thread.join()
  elapsed = time.perf_counter() - start
  flat = np.array([x for per_thread in latencies for x in per_thread]) * 1e3
  return (float(np.percentile(flat, 50)), float(np.percentile(flat, 99)),
          len(flat) / elapsed)


def _start_server(base_path: str, log: str) -> Tuple[subprocess.Popen, str]:
  with open(log, "w") as stderr:
    process = subprocess.Popen(
        [_COARSE_RANK, "serve", "--host", "127.0.0.1", "--port", "0",
         "--model-base-path", base_path, "--max-workers", "16"],
        stdout=subprocess.PIPE, stderr=stderr, text=True,
        env=dict(os.environ, TF_USE_LEGACY_KERAS="1"))
  line = process.stdout.readline()
  if not line.startswith("serving "):
    process.kill()
    raise RuntimeError(f"the server did not start (see {log}): {line!r}")
  return process, line.strip().rsplit(" ", 1)[1]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model-base-path",
                      help="a pushed model folder (<dir>/<version>/); "
                           "default: train one")
  parser.add_argument("--logs", help="the logs the model was trained on "
                                     "(for realistic requests)")
  parser.add_argument("--seconds", type=float, default=10.0,
                      help="measuring time per row (default: %(default)s)")
  parser.add_argument("--candidates", type=int, default=1_000)
  args = parser.parse_args()

  work = tempfile.mkdtemp(prefix="bench-serving-")
  if args.model_base_path:
    if not args.logs:
      parser.error("--model-base-path needs --logs")
    base_path, logs = args.model_base_path, args.logs
  else:
    print("training and exporting a model on synthetic logs...", flush=True)
    exported = serving_testing.pushed_model(work, num_requests=2_000,
                                            num_items=5_000)
    base_path = os.path.dirname(exported.export_dir)  # The pushed layout.
    logs = exported.logs_dir
  newest = max(layout.list_versions(base_path).items())[1]
  requests = serving_testing.sample_requests(logs, _NUM_REQUESTS, args.candidates)

  serve = tf.saved_model.load(newest).signatures[model_serving.SERVING_DEFAULT]
  inputs = [client_lib.rank_inputs([r]) for r in requests]

  def in_process(_, i):
    serve(**{k: tf.constant(v) for k, v in inputs[i % len(inputs)].items()})

  rows = [("in-process signature", c, _measure(in_process, c, args.seconds))
          for c in _CONCURRENCY]

  process, target = _start_server(base_path,
                                  os.path.join(work, "server.log"))
  try:
    clients = [client_lib.RankingClient(target) for _ in range(
        max(_CONCURRENCY))]
    clients[0].wait_until_available(timeout=120)

    def over_grpc(t, i):
      clients[t].rank(requests[i % len(requests)])

    rows += [("gRPC local server", c, _measure(over_grpc, c, args.seconds))
             for c in _CONCURRENCY]
    for client in clients:
      client.close()
  finally:
    process.terminate()
    process.wait(timeout=60)
    shutil.rmtree(work, ignore_errors=True)

  print(f"\n1 request x {args.candidates} candidates, {args.seconds:.0f} s "
        f"per row, {os.cpu_count()} CPUs")
  print(f"{'mode':<22}{'clients':>8}{'p50 ms':>9}{'p99 ms':>9}{'QPS':>9}")
  for mode, concurrency, (p50, p99, qps) in rows:
    print(f"{mode:<22}{concurrency:>8}{p50:>9.2f}{p99:>9.2f}{qps:>9.0f}")
  (p99_one,) = [p99 for mode, c, (_, p99, _) in rows
                if mode.startswith("gRPC") and c == 1]
  verdict = "meets" if p99_one <= _TARGET_P99_MS else "MISSES"
  print(f"gRPC p99 with one client: {p99_one:.2f} ms, {verdict} the target "
        f"of {_TARGET_P99_MS:.0f} ms")


if __name__ == "__main__":
  main()
