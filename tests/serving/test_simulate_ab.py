"""The A/B replay's model arm calls the pushed model's real serving_default, in process and through the gRPC server, and the command runs it."""

import json
import os

import numpy as np
import pyarrow.parquet as pq
import tensorflow as tf

from components.raw_logs import contract as c
from models import features as f
from models import requests as requests_lib
from models import serving as model_serving
from serving import constants
from tfx_pipeline import cli
from tfx_pipeline.ablation import online_ab
from tfx_pipeline.synthetic import config as world_config
from tfx_pipeline.synthetic import replay
from tfx_pipeline.synthetic import world as world_lib

NUM_REQUESTS, NUM_CANDIDATES = 12, 40


def _world(logs_dir):
  with open(os.path.join(logs_dir, world_config.WORLD_FILE)) as f:
    return world_lib.SyntheticWorld(world_config.from_json(f.read()))


def _direct_scores(export_dir, logs_dir, requests, item_ids):
  """serving_default called by hand, profiles read from the logs' users."""
  users = {u[c.USER_ID]: u for u in pq.read_table(
      c.table_dir(logs_dir, c.USERS)).to_pylist()}
  batch = []
  for row, items in zip(requests.to_pylist(), item_ids):
    user = users.get(row[c.USER_ID], {})
    batch.append(requests_lib.RankRequest(
        user_id=row[c.USER_ID], query=row[c.QUERY],
        candidate_item_ids=list(items),
        user_history=list(row[c.USER_HISTORY] or ()),
        age_bucket=user.get(c.AGE_BUCKET, f.UNKNOWN_INT),
        purchase_power=user.get(c.PURCHASE_POWER, f.UNKNOWN_INT),
        gender=user.get(c.GENDER, f.PAD_STRING)))
  signature = tf.saved_model.load(export_dir).signatures[
      model_serving.SERVING_DEFAULT]
  inputs = requests_lib.rank_inputs(batch)
  return signature(**{k: tf.constant(v) for k, v in inputs.items()})[
      model_serving.SCORES].numpy()


def test_the_model_arm_scores_with_the_exported_signature(exported,
                                                          shared_server):
  world = _world(exported.logs_dir)
  arrivals = replay.replay_arrivals(world, NUM_REQUESTS, seed=0)
  requests = world.requests_table(np.arange(NUM_REQUESTS), arrivals, "a")
  rng = np.random.default_rng(0)
  item_ids = world_lib.item_ids(rng.integers(
      0, world.config.num_items, size=(NUM_REQUESTS, NUM_CANDIDATES)))
  expected = _direct_scores(exported.export_dir, exported.logs_dir,
                            requests, item_ids)
  in_process = online_ab.saved_model_scorer(exported.export_dir, world)(
      requests, item_ids)
  np.testing.assert_allclose(in_process, expected, rtol=1e-6, atol=1e-6)
  over_grpc = online_ab.grpc_scorer(shared_server.target,
                                    constants.DEFAULT_MODEL_NAME, world,
                                    batch_size=5)(requests, item_ids)
  np.testing.assert_allclose(over_grpc, expected, rtol=1e-5, atol=1e-5)


def test_the_command_replays_the_pushed_model(exported, tmp_path, capsys):
  out = str(tmp_path / "ab")
  assert cli.main(["simulate-ab", "--world", exported.logs_dir, "--model",
                   os.path.dirname(exported.export_dir), "--requests", "150",
                   "--coarse-output-sizes", "50,100", "--output", out]) == 0
  assert "| model@50 | 50 |" in capsys.readouterr().out
  with open(os.path.join(out, "ab.json")) as f:
    result = json.load(f)
  assert result["model"] == exported.export_dir  # The newest version.
  arms = {a["name"]: a for a in result["arms"]}
  assert set(arms) == {"legacy", "model", "oracle", "random", "model@50"}
  # Passing more items keeps more of the fine ranker's top 10.
  assert (arms["model@50"]["fine_top_kept"]
          <= arms["model"]["fine_top_kept"])
  assert os.path.getsize(os.path.join(out, "gmv_lift.png")) > 0
