"""A small coarse ranker pushed by the pipeline, versions pushed by hand, and requests sampled from logs.

`pushed_model` runs the whole pipeline (local_runner.run) on a generated
world with a few training steps and a blessing threshold of 0, so the model
is always pushed: the Pusher's TF Serving layout with warmup records and
models.config, as production serves it. `push_version` copies a version into
a layout the way a pusher must: into a temporary folder first, then renamed,
so a server never sees half a version.
"""

import dataclasses
import os
import shutil
import threading
import time
from typing import (Callable, ContextManager, List, Optional, Sequence,
                    Tuple, Type)

import numpy as np
import pyarrow.parquet as pq

from components.raw_logs import contract as c
from models import hparams as hparams_lib
from serving import client
from tfx_pipeline import beam_options
from tfx_pipeline import config as config_lib
from tfx_pipeline import local_runner
from tfx_pipeline import run_result
from tfx_pipeline.synthetic import config as world_config
from tfx_pipeline.synthetic import write


@dataclasses.dataclass(frozen=True)
class PushedModel:
  """Where the pushed model and the logs it was trained on are.

  Attributes:
    export_dir: the pushed SavedModel version (`saved_model.pb`,
      `variables/`, `assets/`, `assets.extra/tf_serving_warmup_requests`).
    serving_dir: the Pusher's serving directory, with `models.config`.
    logs_dir: the synthetic logs (`<logs_dir>/<table>/*.parquet`).
    result: the pipeline run that pushed it.
  """

  export_dir: str
  serving_dir: str
  logs_dir: str
  result: run_result.RunResult


def small_model_config(seed: int = 3, train_steps: int = 60,
                       match_head: bool = True) -> config_lib.PipelineConfig:
  """A few training steps and no blessing bar (threshold 0, yardsticks not
  required): always pushed."""
  return config_lib.PipelineConfig(
      hparams=hparams_lib.HParams(batch_size=32, learning_rate=0.01,
                                  seed=seed, match_head=match_head),
      train_steps=train_steps, eval_steps=1,
      validation=config_lib.ValidationConfig(
          threshold=0.0, tolerance=1.0, beat_yardsticks=False))


def pushed_model(root: str, num_requests: int = 1_500,
                 num_items: int = 1_500, train_steps: int = 60,
                 seed: int = 3, match_head: bool = True,
                 logs: Optional[str] = None) -> PushedModel:
  """Generates logs under `root` (or takes `logs`), runs the pipeline on
  them; the push. `match_head` False pushes the two towers alone."""
  if logs is None:
    logs = os.path.join(root, "logs")
    write.write_logs(logs, world_config.WorldConfig(
        num_requests=num_requests, num_items=num_items, seed=seed))
  result = local_runner.run(small_model_config(seed, train_steps, match_head),
                            logs, os.path.join(root, "run"),
                            beam_options.beam_args("in_memory"))
  return PushedModel(export_dir=result.pushed_version,
                     serving_dir=result.layout.serving_dir, logs_dir=logs,
                     result=result)


def push_version(export_dir: str, base_path: str, version: int) -> str:
  """Copies a SavedModel to `<base_path>/<version>/` atomically; returns it."""
  final = os.path.join(base_path, str(version))
  staging = os.path.join(base_path, f".tmp-{version}")
  shutil.rmtree(staging, ignore_errors=True)
  shutil.copytree(export_dir, staging)
  os.rename(staging, final)
  return final


def sample_requests(logs_dir: str, num_requests: int, num_candidates: int,
                    unknown_share: float = 0.05, seed: int = 0
                    ) -> List[client.RankRequest]:
  """Requests of the logs with candidates drawn from the catalog.

  Each request keeps its user, query and history (and the user's profile);
  its candidates are `num_candidates` catalog items, of which about
  `unknown_share` are replaced by ids the model never saw.
  """
  rng = np.random.default_rng(seed)
  read = lambda table: pq.read_table(c.table_dir(logs_dir, table)).to_pylist()
  requests = read(c.REQUESTS)[:num_requests]
  users = {u[c.USER_ID]: u for u in read(c.USERS)}
  items = [row[c.ITEM_ID] for row in read(c.ITEMS)]
  out = []
  for i, row in enumerate(requests):
    picks = rng.choice(len(items), num_candidates,
                       replace=num_candidates > len(items))
    candidates = [items[k] for k in picks]
    for k in np.flatnonzero(rng.random(num_candidates) < unknown_share):
      candidates[k] = f"unknown-item-{i}-{k}"
    user = users.get(row[c.USER_ID], {})
    out.append(client.RankRequest(
        user_id=row[c.USER_ID], query=row[c.QUERY],
        candidate_item_ids=candidates,
        user_history=list(row[c.USER_HISTORY] or ()),
        age_bucket=user.get(c.AGE_BUCKET, client.UNKNOWN_INT),
        purchase_power=user.get(c.PURCHASE_POWER, client.UNKNOWN_INT),
        gender=user.get(c.GENDER, "")))
  return out


def versions_under_load(
    clients: Sequence[Callable[[], ContextManager]],
    requests: Sequence[client.RankRequest], change: Callable[[], None],
    errors: Tuple[Type[Exception], ...], before_seconds: float = 4.0
) -> Tuple[List[List[int]], List[str]]:
  """The versions that answered each client while `change` ran; failures.

  Each client (made by its factory, e.g. a RankingClient, used as a context
  manager) ranks the requests in turn from its own thread until `change`,
  called after `before_seconds`, returns. A call raising one of `errors`
  is a failure.
  """
  stop = threading.Event()
  versions = [[] for _ in clients]
  failures = []

  def send(i):
    with clients[i]() as ranker:
      while not stop.is_set():
        try:
          ranking = ranker.rank(requests[i % len(requests)])
        except errors as e:
          failures.append(f"client {i}: {e}")
          continue
        versions[i].append(ranking.model_version)

  threads = [threading.Thread(target=send, args=(i,))
             for i in range(len(clients))]
  for thread in threads:
    thread.start()
  time.sleep(before_seconds)
  try:
    change()
  finally:
    stop.set()
    for thread in threads:
      thread.join()
  return versions, failures
