"""The whole pipeline on generated logs: only models that clear the hitrate bar are blessed and pushed."""

import os

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from components.push import models_config
from components.validation import executor as validation_executor
from components.validation import report as report_lib
from models import hparams as hparams_lib
from models import serving
from tfx_pipeline import beam_options
from tfx_pipeline import cli
from tfx_pipeline import config as config_lib
from tfx_pipeline import local_runner
from tfx_pipeline.synthetic import config as world_config
from tfx_pipeline.synthetic import write

THRESHOLD = 0.35
# A learning rate this small leaves the weights at their initialisation:
# the model ranks candidates at random (expected hitrate@100 of 500: 0.2).
UNTRAINED = dict(learning_rate=1e-9, batch_size=32)
TRAINED = dict(learning_rate=0.01, batch_size=32)


def _run(root, hparams, steps):
  result = local_runner.run(
      config_lib.PipelineConfig(
          hparams=hparams_lib.HParams(**hparams), train_steps=steps,
          eval_steps=2, pipeline_name="validation-test",
          validation=config_lib.ValidationConfig(k_main="100",
                                                 threshold=THRESHOLD,
                                                 tolerance=0.02)),
      os.path.join(root, "logs"), root, beam_options.beam_args("in_memory"))
  report = report_lib.load(result.metrics)
  with open(os.path.join(result.metrics, validation_executor.PLOT_FILE),
            "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert result.blessed == report["blessed"]
  return report


def _versions(root):
  folder = os.path.join(root, "serving", config_lib.DEFAULT_MODEL_NAME)
  return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


@pytest.mark.e2e
def test_only_models_clearing_the_bar_are_pushed(tmp_path, capsys):
  root = str(tmp_path)
  write.write_logs(os.path.join(root, "logs"), world_config.WorldConfig(
      num_requests=3000, num_items=1500, seed=3))

  untrained = _run(root, UNTRAINED, steps=1)
  main = untrained["hitrate"]["model"]["global"]["100"]
  assert main < THRESHOLD
  assert not untrained["blessed"]
  assert "below the threshold" in untrained["reasons"][0]
  # The yardsticks are evaluated on the same sets, and an untrained model
  # does not beat the best of them either.
  yardsticks = {name: untrained["hitrate"][name]["global"]["100"]
                for name in ("popularity", "sales", "counts")}
  best = max(yardsticks, key=yardsticks.get)
  assert yardsticks[best] > main
  assert untrained["reasons"][1] == (
      f"candidate hitrate {main:.4f} does not beat the best yardstick, "
      f"{best}'s {yardsticks[best]:.4f} (popularity "
      f"{yardsticks['popularity']:.4f}, sales {yardsticks['sales']:.4f}, "
      f"counts {yardsticks['counts']:.4f})")
  assert untrained["baseline_model_uri"] is None
  assert _versions(root) == []
  # The fine ranker is always evaluated on the same sets.
  assert untrained["hitrate"]["fine_ranker"]["global"]["100"] > 0.3
  assert set(untrained["hitrate"]["model"]) == {
      "global", "in_scene", "out_of_scene", "head", "tail", "fine_top10"}
  # The fine ranker keeps its own top 10 in its top 100.
  assert untrained["hitrate"]["fine_ranker"]["fine_top10"]["100"] == 1.0

  trained = _run(root, TRAINED, steps=400)
  assert trained["hitrate"]["model"]["global"]["100"] >= THRESHOLD
  assert trained["blessed"], trained["reasons"]
  versions = _versions(root)
  assert len(versions) == 1
  pushed = os.path.join(root, "serving", config_lib.DEFAULT_MODEL_NAME,
                        versions[0])
  assert os.path.exists(os.path.join(pushed, "saved_model.pb"))
  assert os.path.exists(os.path.join(pushed, serving.WARMUP_FILE))
  config = text_format.Parse(
      open(os.path.join(root, "serving", models_config.MODELS_CONFIG)).read(),
      model_server_config_pb2.ModelServerConfig())
  assert [(c.name, c.base_path) for c in config.model_config_list.config] == [
      (config_lib.DEFAULT_MODEL_NAME,
       os.path.join(root, "serving", config_lib.DEFAULT_MODEL_NAME))]

  damaged = _run(root, dict(UNTRAINED, seed=1), steps=1)
  assert not damaged["blessed"]
  assert damaged["baseline_model_uri"] == trained["model_uri"]
  assert any("regresses" in r for r in damaged["reasons"])
  assert damaged["hitrate"]["last_blessed_model"]["global"]["100"] == (
      pytest.approx(trained["hitrate"]["model"]["global"]["100"]))
  assert _versions(root) == versions

  # The same run from the command line, for CI/CD: exit 3, nothing pushed.
  assert cli.main([
      "run", "--logs", os.path.join(root, "logs"), "--output", root,
      "--require-blessing", "--beam-mode", "in_memory", "--train-steps", "1",
      "--eval-steps", "2", "--pipeline-name", "validation-test",
      "--model-learning-rate", "1e-9", "--model-batch-size", "32",
      "--model-seed", "1", "--k-main", "100", "--threshold", str(THRESHOLD),
      "--tolerance", "0.02"]) == 3
  captured = capsys.readouterr()
  assert "not pushed: the model was not blessed" in captured.out
  assert "error: the model was not blessed" in captured.err
  assert _versions(root) == versions
