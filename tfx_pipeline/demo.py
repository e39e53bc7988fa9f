"""The demo: synthetic logs -> whole local pipeline -> pushed model served over gRPC -> one ranked request."""

import dataclasses
import logging
import os
from typing import List

import numpy as np

from components.listwise import split as split_lib
from components.validation import data
from components.validation import metrics
from components.validation import report
from serving import client as client_lib
from serving import config as serving_config
from serving import server as server_lib
from tfx_pipeline import local_runner
from tfx_pipeline import pipeline as pipeline_lib
from tfx_pipeline.synthetic import config as config_lib
from tfx_pipeline.synthetic import write

LOGS = "logs"
RUN = "run"
SHOWN = 10


@dataclasses.dataclass(frozen=True)
class DemoConfig:
  """Size of the demo world and of its training run."""
  requests: int = 5_000
  seed: int = 0
  train_steps: int = 2_000
  beam_mode: str = "multi_processing"
  beam_workers: int = 2


def _eval_request(run_dir: str) -> metrics.EvalSet:
  """The eval request with the most purchases among its candidates."""
  split_uri = max(
      (os.path.join(root, f"Split-{split_lib.EVAL}") for root, dirs, _ in
       os.walk(os.path.join(run_dir, local_runner.PIPELINE_DIR))
       if f"Split-{split_lib.EVAL}" in dirs and "eval_candidates" in root),
      key=lambda p: int(os.path.basename(os.path.dirname(p))))
  sets, contexts = data.read_eval_sets(split_uri)
  best = max(range(len(sets)), key=lambda i: int(
      (sets[i].in_scene | sets[i].out_of_scene).sum()))
  return sets[best], contexts[best]


def _answer_lines(eval_set: metrics.EvalSet, context: dict,
                  ranking: client_lib.Ranking) -> List[str]:
  bought = set(eval_set.item_ids[eval_set.in_scene | eval_set.out_of_scene])
  lines = [f"request of user {context['user_id']!r}, query "
           f"{context['query']!r}: {len(eval_set.item_ids)} candidates, "
           f"purchased later: {sorted(bought)}",
           f"top {SHOWN} from model version {ranking.model_version}:"]
  for rank, (item, score) in enumerate(ranking.top_k[:SHOWN], start=1):
    mark = "  <- purchased" if item in bought else ""
    lines.append(f"  {rank:>2}. {item}  {score:8.3f}{mark}")
  order = np.argsort(-ranking.scores, kind="stable")
  ranks = {eval_set.item_ids[i]: r for r, i in enumerate(order, start=1)}
  lines.append("purchased items' ranks: " + ", ".join(
      f"{item} #{ranks[item]}" for item in sorted(bought)))
  return lines


def run_demo(out_dir: str, cfg: DemoConfig = DemoConfig()) -> str:
  """Runs the demo under `out_dir`; returns the text it printed."""
  logs = os.path.join(out_dir, LOGS)
  run_dir = os.path.join(out_dir, RUN)
  summary = write.write_logs(logs, config_lib.WorldConfig(
      num_requests=cfg.requests, seed=cfg.seed), overwrite=True)
  logging.info("generated %s", summary["rows"])
  local_runner.run(logs, run_dir, beam_pipeline_args=local_runner.beam_args(
      cfg.beam_mode, cfg.beam_workers, []), train_steps=cfg.train_steps)
  metrics_path = report.find(run_dir)
  lines = [report.format_report(report.load(metrics_path), metrics_path), ""]

  model_dir = os.path.join(local_runner.OutputLayout(run_dir).serving_dir,
                           pipeline_lib.DEFAULT_MODEL_NAME)
  if not os.path.isdir(model_dir):
    lines.append(f"no model was blessed, so none is served ({model_dir})")
    return "\n".join(lines)
  server = server_lib.ModelServer(
      serving_config.from_flags(pipeline_lib.DEFAULT_MODEL_NAME, model_dir,
                                None), port=0, host="127.0.0.1")
  port = server.start()
  try:
    with client_lib.RankingClient(f"127.0.0.1:{port}",
                                  pipeline_lib.DEFAULT_MODEL_NAME) as client:
      client.wait_until_available(timeout=120)
      eval_set, context = _eval_request(run_dir)
      ranking = client.rank(client_lib.RankRequest(
          **context, candidate_item_ids=list(eval_set.item_ids)))
    lines.append(f"local TF-Serving-compatible server on 127.0.0.1:{port}, "
                 f"gRPC Predict:")
    lines += _answer_lines(eval_set, context, ranking)
  finally:
    server.stop()
  return "\n".join(lines)
