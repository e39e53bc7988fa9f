"""The demo: synthetic logs -> whole local pipeline -> pushed model served over gRPC -> one ranked request."""

import dataclasses
import logging
import os
import time
from typing import List, Sequence

import numpy as np

from components.listwise import split as split_lib
from components.validation import data
from components.validation import metrics
from components.validation import report
from serving import client as client_lib
from serving import config as serving_config
from serving import layout
from serving import server as server_lib
from tfx_pipeline import config as config_lib
from tfx_pipeline import local_runner
from tfx_pipeline import outputs
from tfx_pipeline import run_result
from tfx_pipeline.synthetic import config as world_config
from tfx_pipeline.synthetic import write

LOGS = "logs"
RUN = "run"
SHOWN = 10


@dataclasses.dataclass(frozen=True)
class DemoConfig:
  """The demo world and the pipeline run on it."""
  world: world_config.WorldConfig = world_config.WorldConfig()
  pipeline: config_lib.PipelineConfig = config_lib.PipelineConfig()


def _eval_request(result: run_result.RunResult) -> metrics.EvalSet:
  """The eval request with the most purchases among its candidates."""
  sets, contexts = data.read_eval_sets(result.split(
      run_result.EXAMPLE_GEN, "eval_candidates", split_lib.EVAL))
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


def run_demo(out_dir: str, cfg: DemoConfig = DemoConfig(),
             beam_pipeline_args: Sequence[str] = ()) -> str:
  """Runs the demo under `out_dir`; returns the text it printed.

  Raises:
    OutputDirError: `out_dir` cannot be written, before any work.
  """
  outputs.check_writable(out_dir)
  logs = os.path.join(out_dir, LOGS)
  summary = write.write_logs(logs, cfg.world, overwrite=True)
  logging.info("generated %s", summary["rows"])
  result = local_runner.run(cfg.pipeline, logs, os.path.join(out_dir, RUN),
                            list(beam_pipeline_args) or None)
  lines = [report.format_report(report.load(result.metrics), result.metrics),
           ""]
  model_dir = os.path.join(result.layout.serving_dir,
                           cfg.pipeline.model_name)
  versions = (layout.list_versions(model_dir) if os.path.isdir(model_dir)
              else {})
  if not versions:
    lines.append(f"no model was blessed, so none is served ({model_dir})")
    return "\n".join(lines)
  if not result.blessed:
    # An earlier run's blessed model is still the pushed one: serve it, and
    # say so.
    version, path = max(versions.items())
    pushed_at = time.strftime("%Y-%m-%d %H:%M:%S",
                              time.localtime(os.path.getmtime(path)))
    lines.append(f"this run's model was not blessed; serving version "
                 f"{version}, pushed by an earlier run at {pushed_at} "
                 f"({path})")
  server = server_lib.ModelServer(
      serving_config.from_flags(cfg.pipeline.model_name, model_dir, None),
      port=0, host="127.0.0.1")
  port = server.start()
  try:
    with client_lib.RankingClient(f"127.0.0.1:{port}",
                                  cfg.pipeline.model_name) as client:
      client.wait_until_available(timeout=120)
      eval_set, context = _eval_request(result)
      ranking = client.rank(client_lib.RankRequest(
          **context, candidate_item_ids=list(eval_set.item_ids)))
    lines.append(f"local TF-Serving-compatible server on 127.0.0.1:{port}, "
                 f"gRPC Predict:")
    lines += _answer_lines(eval_set, context, ranking)
  finally:
    server.stop()
  return "\n".join(lines)
