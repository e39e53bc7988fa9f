"""The same logs, settings and seed give the same model: two runs into separate outputs agree exactly."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from components.validation import report as report_lib
from models import hparams as hparams_lib
from models import serving
from serving import client as client_lib
from testing import serving as serving_testing
from tfx_pipeline import beam_options
from tfx_pipeline import config as config_lib
from tfx_pipeline import local_runner
from tfx_pipeline.synthetic import config as world_config
from tfx_pipeline.synthetic import write


@pytest.mark.e2e
def test_two_runs_on_the_same_logs_give_the_same_model(tmp_path):
  logs = str(tmp_path / "logs")
  write.write_logs(logs, world_config.WorldConfig(
      num_requests=800, num_items=800, seed=9))
  config = config_lib.PipelineConfig(
      hparams=hparams_lib.HParams(batch_size=32, checkpoints=3),
      train_steps=60, eval_steps=2, stop_after=config_lib.VALIDATE)
  # Beam with worker processes, where the order of the examples it writes
  # changes from run to run.
  runs = [local_runner.run(config, logs, str(tmp_path / name),
                           beam_options.beam_args("multi_processing"))
          for name in ("first", "second")]
  tables = [report_lib.load(r.metrics) for r in runs]
  for table in tables:
    for key in ("model_uri", "baseline_model_uri"):
      table.pop(key)
  assert json.dumps(tables[0], sort_keys=True) == json.dumps(
      tables[1], sort_keys=True)
  request = serving_testing.sample_requests(logs, 4, 200)
  inputs = {k: tf.constant(v)
            for k, v in client_lib.rank_inputs(request).items()}
  scores = []
  for run in runs:
    path = os.path.join(run.model, "Format-Serving")
    serve = tf.saved_model.load(path).signatures[serving.SERVING_DEFAULT]
    scores.append(serve(**inputs)[serving.SCORES].numpy())
  np.testing.assert_allclose(scores[0], scores[1], rtol=0, atol=1e-6)
