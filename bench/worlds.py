"""Benchmark: every world of the suite, its generation time and peak memory, and its fine ranker.

For each world, generates N requests (default 20k) in a child process (so its
peak RSS is its own), then reads the written logs and computes NDCG@10 on the
exposed lists of the eval split (the newest 10% of requests; gain 2 purchase,
1 click) for the logged fine scores and for a popularity count (exposures of
the item in the train split), and prints the generator's own report of the
fine ranker's agreement with the hidden utility by burn-in exposure bucket.

    python bench/worlds.py [--requests 20000] [--worlds default sparse]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow.parquet as pq

from components.raw_logs import contract as c
from tfx_pipeline.synthetic import worlds

_CHILD = """
import json, sys
from tfx_pipeline.synthetic import worlds, write
summary = write.write_logs(sys.argv[1], worlds.world_config(
    sys.argv[2], num_requests=int(sys.argv[3])), overwrite=True)
print(json.dumps(summary))
"""


def _ndcg_at_10(request: np.ndarray, score: np.ndarray,
                gain: np.ndarray) -> float:
  """Mean NDCG@10 over requests with a positive gain."""
  values = []
  order = np.lexsort((-score, request))
  request, gain = request[order], gain[order]
  starts = np.flatnonzero(np.diff(request, prepend=request[:1] - 1))
  for s, e in zip(starts, np.append(starts[1:], request.size)):
    g = gain[s:e][:10]
    ideal = np.sort(gain[s:e])[::-1][:10]
    if ideal.sum() == 0:
      continue
    discount = 1.0 / np.log2(np.arange(2, g.size + 2))
    values.append(((2 ** g - 1) * discount).sum()
                  / ((2 ** ideal - 1) * discount).sum())
  return float(np.mean(values))


def fine_vs_popularity(logs_dir: str) -> dict:
  """NDCG@10 of fine scores and of train-split exposure counts on eval lists."""
  requests = pq.read_table(c.table_dir(logs_dir, c.REQUESTS),
                           columns=[c.REQUEST_ID, c.TS]).to_pandas()
  imp = pq.read_table(c.table_dir(logs_dir, c.IMPRESSIONS)).to_pandas()
  imp = imp[imp[c.EXPOSED]]
  cut = requests[c.TS].quantile(0.9)
  eval_ids = set(requests[c.REQUEST_ID][requests[c.TS] > cut])
  is_eval = imp[c.REQUEST_ID].isin(eval_ids).to_numpy()
  popularity = imp[~is_eval][c.ITEM_ID].value_counts()
  ev = imp[is_eval]
  request = ev[c.REQUEST_ID].astype("category").cat.codes.to_numpy()
  gain = np.where(ev[c.PURCHASED], 2.0, np.where(ev[c.CLICKED], 1.0, 0.0))
  pop = ev[c.ITEM_ID].map(popularity).fillna(0).to_numpy(dtype=np.float64)
  return {"fine": _ndcg_at_10(request, ev[c.FINE_SCORE].to_numpy(), gain),
          "popularity": _ndcg_at_10(request, pop, gain)}


def run(name: str, requests: int, out: str) -> dict:
  start = time.perf_counter()
  proc = subprocess.Popen([sys.executable, "-c", _CHILD, out, name,
                           str(requests)], stdout=subprocess.PIPE, text=True)
  stdout = proc.stdout.read()
  _, status, usage = os.wait4(proc.pid, 0)
  if status:
    raise RuntimeError(f"generating {name} failed")
  summary = json.loads(stdout.strip().splitlines()[-1])
  return {"world": name, "seconds": round(time.perf_counter() - start, 1),
          "peak_rss_mb": round(usage.ru_maxrss / 1024),
          "ndcg_at_10_eval_exposed": fine_vs_popularity(out),
          "fine_ranker": summary["fine_ranker"], "rows": summary["rows"]}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--requests", type=int, default=20_000)
  parser.add_argument("--worlds", nargs="+", default=list(worlds.WORLDS),
                      choices=list(worlds.WORLDS))
  args = parser.parse_args()
  for name in args.worlds:
    with tempfile.TemporaryDirectory() as tmp:
      print(json.dumps(run(name, args.requests, tmp)), flush=True)


if __name__ == "__main__":
  main()
