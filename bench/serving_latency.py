"""Benchmark: the local server's latency and throughput over gRPC (unbatched and batched) and REST, against the signature in process.

Trains and exports a small coarse ranker on synthetic logs (or takes a
pushed model folder), starts `coarse-rank serve` in its own process on
loopback, and sends requests of 1 user x N candidates (5% unknown ids;
N = 1,000 and 10,000 by default) from 1, 4 and 16 concurrent clients
(threads, one connection each). The modes take turns: at each number of
clients every mode runs `--rounds` times for `--seconds / --rounds`, one
after the other, and its latencies are pooled, so that load from other
work on a shared machine falls on all modes alike. Every mode starts
from the same arrays (`rank_inputs` of the requests, built before timing):
a gRPC or REST latency is one `predict` call end to end (encoding the
arrays, the transport, the server's checks and signature call, decoding
the outputs), an in-process one is the signature called on them.

Measured in the same run and on the same requests, the servers running
throughout:
- the serving_default signature of the same SavedModel called in this
  process (no server), with as many threads;
- gRPC against a server that does no work (testing/grpc_floor.py: every
  Predict answered with the same real response, on the local server's
  gRPC options): Python's gRPC stack, both sides, is all it measures;
- gRPC, the server started without batching (`RankingClient`);
- gRPC, the server started with `--enable_batching
  --batching_parameters_file` (default: bench/serving_batching.txt, which
  waits longer than serving/batching_parameters.txt, see there);
- REST, one client (`RestRankingClient`, the columnar JSON format).

Prints p50, p99 and QPS of each as a table, with the CPU time per request
of the server (user + system, of its process) and of this process (its
clients, or the in-process calls), then the issue's targets as ratios
against the in-process figures: gRPC p99 at most 1.5x the in-process
p99 with one client, and with 16 clients and batching at least 0.8x the
in-process throughput, at each N; and the same ratios for the gRPC floor,
the part of each target the transport takes before the server does
anything; and, with 16 clients, the batched server's CPU per request over
the in-process signature's: the clients share this machine's CPUs with the
server, and their share is told apart from the server's.

Then the head's cost: the same requests in process, one at a time, through
the model and through a model of the same run without the head (the two
towers alone, the scorer of ac01a8c), their latencies pooled over
alternating turns: p50 and p99 ratios, target at most 1.5x at every N.

    python bench/serving_latency.py [--model-base-path DIR --logs DIR
        [--towers-only-base-path DIR]] [--seconds 10] [--rounds 5]
        [--candidates 1000 10000]
        [--batching-parameters-file bench/serving_batching.txt]
"""

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

# pylint: disable=g-import-not-at-top,wrong-import-position
import argparse
import math
import shutil
import subprocess
import tempfile
import threading
import time
from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence,
                    Tuple)

import numpy as np
import psutil
import tensorflow as tf

from tensorflow_serving.apis import predict_pb2

from models import serving as model_serving
from serving import client as client_lib
from serving import constants
from serving import layout
from serving import rest_client
from serving import servable as servable_lib
from testing import grpc_floor
from testing import serving as serving_testing
# pylint: enable=g-import-not-at-top,wrong-import-position

_CONCURRENCY = (1, 4, 16)
_REST_CONCURRENCY = (1,)
_MAX_P99_RATIO = 1.5  # gRPC p99 / in-process p99, one client.
_MIN_QPS_RATIO = 0.8  # Batched gRPC QPS / in-process QPS, 16 clients.
_MAX_HEAD_RATIO = 1.5  # With the head / towers alone, in process.
_NUM_REQUESTS = 64
_BATCHING_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "serving_batching.txt")
# The installed console script, beside this Python.
_COARSE_RANK = os.path.join(os.path.dirname(sys.executable), "coarse-rank")
IN_PROCESS = "in-process signature"
GRPC_FLOOR = "gRPC floor, no work"
GRPC = "gRPC"
GRPC_BATCHED = "gRPC, batching"
REST = "REST"
# The table's order.
_MODES = (IN_PROCESS, GRPC_FLOOR, GRPC, REST, GRPC_BATCHED)

# p50 ms, p99 ms, QPS, server CPU ms and this process's CPU ms per request.
Figures = Tuple[float, float, float, float, float]
Row = Tuple[str, int, int, Figures]


def _measure(call: Callable[[int, int], None], threads: int,
             seconds: float) -> Tuple[List[float], float]:
  """Runs `call(thread, i)` in `threads` threads for `seconds`.

  Returns:
    the latency of every call (s) and the time they ran in (s).
  """
  latencies: List[List[float]] = [[] for _ in range(threads)]
  stop = threading.Event()

  def worker(t):
    i = 0
    while not stop.is_set():
      start = time.perf_counter()
      call(t, i)
      latencies[t].append(time.perf_counter() - start)
      i += 1

  pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
  start = time.perf_counter()
  for thread in pool:
    thread.start()
  time.sleep(seconds)
  stop.set()
  for thread in pool:
    thread.join()
  elapsed = time.perf_counter() - start
  return [x for per_thread in latencies for x in per_thread], elapsed


def _cpu_seconds(process: Optional[psutil.Process]) -> float:
  """The user + system CPU time a process has used (all its threads), in s.

  NaN for None (no process).
  """
  if process is None:
    return math.nan
  times = process.cpu_times()
  return times.user + times.system


def _alternating(calls: Mapping[str, Callable[[int, int], None]],
                 servers: Mapping[str, Optional[psutil.Process]],
                 threads: int, seconds: float, rounds: int
                 ) -> Dict[str, Figures]:
  """Each mode's figures, the modes taking turns.

  Each mode runs `rounds` times `seconds / rounds`, in turn with the
  others, and its latencies and CPU times are pooled: load from other work
  on the machine falls on every mode alike, not on whichever ran at that
  time. A mode's server CPU is that of `servers[mode]` (NaN for None),
  the local CPU that of this process, while the mode runs.
  """
  for call in calls.values():  # Warm up every thread's path first.
    for t in range(threads):
      call(t, 0)
  this = psutil.Process()
  samples = {mode: ([], 0.0, 0.0, 0.0) for mode in calls}
  for _ in range(rounds):
    for mode, call in calls.items():
      server = servers[mode]
      server_start = _cpu_seconds(server)
      local_start = _cpu_seconds(this)
      latencies, elapsed = _measure(call, threads, seconds / rounds)
      server_cpu = _cpu_seconds(server) - server_start
      local_cpu = _cpu_seconds(this) - local_start
      pooled, total, server_total, local_total = samples[mode]
      samples[mode] = (pooled + latencies, total + elapsed,
                       server_total + server_cpu, local_total + local_cpu)
  out = {}
  for mode, (latencies, elapsed, server_cpu, local_cpu) in samples.items():
    ms = np.array(latencies) * 1e3
    out[mode] = (float(np.percentile(ms, 50)), float(np.percentile(ms, 99)),
                 len(ms) / elapsed, server_cpu * 1e3 / len(ms),
                 local_cpu * 1e3 / len(ms))
  return out


def _start_server(base_path: str, log: str, extra: Sequence[str]
                  ) -> Tuple[subprocess.Popen, str, str]:
  """`coarse-rank serve` with REST; the process, gRPC and REST targets."""
  with open(log, "w") as stderr:
    process = subprocess.Popen(
        [_COARSE_RANK, "serve", "--host", "127.0.0.1", "--port", "0",
         "--rest_api_port", "0", "--model-base-path", base_path,
         "--max-workers", "16", *extra],
        stdout=subprocess.PIPE, stderr=stderr, text=True,
        env=dict(os.environ, TF_USE_LEGACY_KERAS="1"))
  lines = [process.stdout.readline(), process.stdout.readline()]
  if not (lines[0].startswith("serving ")
          and lines[1].startswith("REST API on ")):
    process.kill()
    raise RuntimeError(f"the server did not start (see {log}): {lines!r}")
  return process, *(line.strip().rsplit(" ", 1)[1] for line in lines)


def _start_floor(response: predict_pb2.PredictResponse, work: str
                 ) -> Tuple[subprocess.Popen, str]:
  """testing/grpc_floor.py answering `response`; the process and target."""
  path = os.path.join(work, "floor-response.pb")
  with open(path, "wb") as f:
    f.write(response.SerializeToString())
  with open(os.path.join(work, "floor-server.log"), "w") as stderr:
    process = subprocess.Popen(
        [sys.executable, "-m", grpc_floor.__name__, "--response", path],
        stdout=subprocess.PIPE, stderr=stderr, text=True)
  line = process.stdout.readline()
  if not line.startswith("serving on "):
    process.kill()
    raise RuntimeError(f"the floor server did not start: {line!r}")
  return process, line.strip().rsplit(" ", 1)[1]


def _client_calls(clients: Sequence[Any], inputs
                  ) -> Callable[[int, int], None]:
  def call(t, i):
    clients[t].predict(inputs[i % len(inputs)])

  return call


def _measure_size(args, base_path: str, logs: str, newest: str,
                  num_candidates: int, work: str) -> List[Row]:
  """Every mode's rows at one candidate count, the modes taking turns."""
  requests = serving_testing.sample_requests(logs, _NUM_REQUESTS,
                                             num_candidates)
  serve = tf.saved_model.load(newest).signatures[
      model_serving.SERVING_DEFAULT]
  inputs = [client_lib.rank_inputs([r]) for r in requests]

  def in_process(_, i):
    serve(**{k: tf.constant(v) for k, v in inputs[i % len(inputs)].items()})

  # A real answer to the first request, for the floor server to repeat.
  response = servable_lib.Servable(0, newest).predict(
      client_lib.predict_request(constants.DEFAULT_MODEL_NAME, inputs[0]))
  floor, floor_target = _start_floor(response, work)
  plain, target, rest_target = _start_server(
      base_path, os.path.join(work, "server.log"), [])
  batching, batching_target, _ = _start_server(
      base_path, os.path.join(work, "batching-server.log"),
      ["--enable_batching", "--batching_parameters_file",
       args.batching_parameters_file])
  clients: Dict[str, List[Any]] = {}
  try:
    for server in (target, batching_target):
      with client_lib.RankingClient(server) as client:
        client.wait_until_available(timeout=120)
    most = max(_CONCURRENCY)
    clients[GRPC] = [client_lib.RankingClient(target, timeout=60)
                     for _ in range(most)]
    clients[GRPC_FLOOR] = [client_lib.RankingClient(floor_target, timeout=60)
                           for _ in range(most)]
    clients[GRPC_BATCHED] = [
        client_lib.RankingClient(batching_target, timeout=60)
        for _ in range(most)]
    clients[REST] = [rest_client.RestRankingClient(rest_target, timeout=60)
                     for _ in range(max(_REST_CONCURRENCY))]
    servers = {IN_PROCESS: None, GRPC_FLOOR: psutil.Process(floor.pid),
               GRPC: psutil.Process(plain.pid), REST: psutil.Process(plain.pid),
               GRPC_BATCHED: psutil.Process(batching.pid)}
    rows = []
    for concurrency in _CONCURRENCY:
      calls = {IN_PROCESS: in_process}
      calls.update({mode: _client_calls(clients[mode], inputs)
                    for mode in (GRPC_FLOOR, GRPC, GRPC_BATCHED)})
      if concurrency in _REST_CONCURRENCY:
        calls[REST] = _client_calls(clients[REST], inputs)
      figures = _alternating(calls, servers, concurrency, args.seconds,
                             args.rounds)
      rows += [(mode, num_candidates, concurrency, figures[mode])
               for mode in calls]
  finally:
    for client in (c for per_mode in clients.values() for c in per_mode):
      client.close()
    for process in (plain, batching, floor):
      process.terminate()
      process.wait(timeout=60)
  return sorted(rows, key=lambda row: (_MODES.index(row[0]), row[2]))


def head_cost(with_head: str, towers_only: str, logs: str,
              candidates: Sequence[int], seconds: float, rounds: int
              ) -> List[Tuple[int, Figures, Figures]]:
  """Per candidate count, the in-process figures of serving_default with
  the head and of the towers-only model, one client, in turns."""
  out = []
  for num_candidates in candidates:
    requests = serving_testing.sample_requests(logs, _NUM_REQUESTS,
                                               num_candidates)
    inputs = [{k: tf.constant(v) for k, v in client_lib.rank_inputs(
        [r]).items()} for r in requests]
    calls = {}
    for name, path in (("head", with_head), ("towers", towers_only)):
      serve = tf.saved_model.load(path).signatures[
          model_serving.SERVING_DEFAULT]
      calls[name] = (lambda s: lambda _, i: s(**inputs[i % len(inputs)]))(
          serve)
    figures = _alternating(calls, {"head": None, "towers": None}, 1,
                           seconds, rounds)
    out.append((num_candidates, figures["head"], figures["towers"]))
  return out


def head_report(rows: Sequence[Tuple[int, Figures, Figures]]) -> str:
  lines = ["the head's cost, in process, 1 client: serving_default of the "
           "model / of the same run's towers alone (ac01a8c's scorer)"]
  for candidates, head, towers in rows:
    p50, p99 = head[0] / towers[0], head[1] / towers[1]
    lines.append(
        f"  {candidates} candidates: p50 {head[0]:.2f} / {towers[0]:.2f} ms "
        f"= {p50:.2f}, p99 {head[1]:.2f} / {towers[1]:.2f} ms = {p99:.2f} "
        f"(target <= {_MAX_HEAD_RATIO}): "
        f"{_verdict(max(p50, p99) <= _MAX_HEAD_RATIO)}")
  return "\n".join(lines)


def _figures(rows: Sequence[Row], mode: str, candidates: int, clients: int):
  (figures,) = [f for m, n, c, f in rows
                if (m, n, c) == (mode, candidates, clients)]
  return figures


_P99, _QPS, _SERVER_CPU, _LOCAL_CPU = 1, 2, 3, 4  # A row's figures.


def _ratio(rows: Sequence[Row], mode: str, candidates: int, clients: int,
           figure: int) -> float:
  """A mode's figure over the in-process signature's, same size and clients."""
  return (_figures(rows, mode, candidates, clients)[figure]
          / _figures(rows, IN_PROCESS, candidates, clients)[figure])


def _verdict(ok: bool) -> str:
  return "meets" if ok else "MISSES"


def _ms(value: float) -> str:
  return "-" if math.isnan(value) else f"{value:.2f}"


def report(rows: Sequence[Row], seconds: float) -> str:
  """The table of every row, then the targets as ratios."""
  lines = [f"{seconds:g} s per row in turns, {os.cpu_count()} CPUs; "
           "latency of one request end to end; CPU ms per request of the "
           "server's process and of this one (clients or in-process calls)",
           f"{'mode':<22}{'candidates':>11}{'clients':>8}{'p50 ms':>9}"
           f"{'p99 ms':>9}{'QPS':>9}{'server CPU':>12}{'local CPU':>11}"]
  for mode, candidates, clients, (p50, p99, qps, server, local) in rows:
    lines.append(f"{mode:<22}{candidates:>11}{clients:>8}{p50:>9.2f}"
                 f"{p99:>9.2f}{qps:>9.0f}{_ms(server):>12}{_ms(local):>11}")
  lines.append("targets, as ratios against the in-process signature:")
  for candidates in sorted({n for _, n, _, _ in rows}):
    p99_ratio = _ratio(rows, GRPC, candidates, 1, _P99)
    qps_ratio = _ratio(rows, GRPC_BATCHED, candidates, 16, _QPS)
    lines.append(
        f"  {candidates} candidates: gRPC p99 / in-process p99, 1 client: "
        f"{p99_ratio:.2f} (target <= {_MAX_P99_RATIO}): "
        f"{_verdict(p99_ratio <= _MAX_P99_RATIO)}")
    lines.append(
        f"  {candidates} candidates: batched gRPC QPS / in-process QPS, 16 "
        f"clients: {qps_ratio:.2f} (target >= {_MIN_QPS_RATIO}): "
        f"{_verdict(qps_ratio >= _MIN_QPS_RATIO)}")
    lines.append(
        f"  {candidates} candidates, the gRPC floor (no server work): p99 / "
        f"in-process p99, 1 client: "
        f"{_ratio(rows, GRPC_FLOOR, candidates, 1, _P99):.2f}; QPS / "
        f"in-process QPS, 16 clients: "
        f"{_ratio(rows, GRPC_FLOOR, candidates, 16, _QPS):.2f}")
    batched = _figures(rows, GRPC_BATCHED, candidates, 16)
    in_process = _figures(rows, IN_PROCESS, candidates, 16)
    lines.append(
        f"  {candidates} candidates, CPU ms per request, 16 clients: batched "
        f"server {batched[_SERVER_CPU]:.2f} + its clients "
        f"{batched[_LOCAL_CPU]:.2f}, in-process {in_process[_LOCAL_CPU]:.2f}; "
        f"batched server / in-process: "
        f"{batched[_SERVER_CPU] / in_process[_LOCAL_CPU]:.2f}")
  return "\n".join(lines)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model-base-path",
                      help="a pushed model folder (<dir>/<version>/); "
                           "default: train one")
  parser.add_argument("--logs", help="the logs the model was trained on "
                                     "(for realistic requests)")
  parser.add_argument("--towers-only-base-path",
                      help="with --model-base-path: a pushed model of the "
                           "same run without the head, for the head's cost "
                           "(default: not measured; trained when the bench "
                           "trains its model)")
  parser.add_argument("--seconds", type=float, default=10.0,
                      help="measuring time per row (default: %(default)s)")
  parser.add_argument("--rounds", type=int, default=5,
                      help="turns each mode takes, alternating with the "
                           "others, each of --seconds / --rounds "
                           "(default: %(default)s)")
  parser.add_argument("--candidates", type=int, nargs="+",
                      default=[1_000, 10_000],
                      help="candidates per request, one table part each "
                           "(default: %(default)s)")
  parser.add_argument("--batching-parameters-file", default=_BATCHING_FILE,
                      help="the batching server's BatchingParameters "
                           "(default: bench/serving_batching.txt)")
  args = parser.parse_args()

  work = tempfile.mkdtemp(prefix="bench-serving-")
  towers_only = None
  try:
    if args.model_base_path:
      if not args.logs:
        parser.error("--model-base-path needs --logs")
      base_path, logs = args.model_base_path, args.logs
      if args.towers_only_base_path:
        towers_only = max(layout.list_versions(
            args.towers_only_base_path).items())[1]
    else:
      print("training and exporting a model on synthetic logs, and the "
            "same without the head...", flush=True)
      exported = serving_testing.pushed_model(
          os.path.join(work, "model"), num_requests=2_000, num_items=5_000)
      base_path = os.path.dirname(exported.export_dir)  # The pushed layout.
      logs = exported.logs_dir
      towers_only = serving_testing.pushed_model(
          os.path.join(work, "towers"), match_head=False,
          logs=logs).export_dir
    newest = max(layout.list_versions(base_path).items())[1]
    rows = []
    for num_candidates in args.candidates:
      rows += _measure_size(args, base_path, logs, newest, num_candidates,
                            work)
    head_rows = (head_cost(newest, towers_only, logs, args.candidates,
                           args.seconds, args.rounds)
                 if towers_only else [])
  finally:
    shutil.rmtree(work, ignore_errors=True)
  print()
  print(report(rows, args.seconds))
  if head_rows:
    print(head_report(head_rows))


if __name__ == "__main__":
  main()
