"""End to end: tiny generated logs -> local pipeline -> pushed model -> the local server answers over gRPC."""

import os

import pytest

from tfx_pipeline import config as config_lib
from tfx_pipeline import demo
from tfx_pipeline import local_runner
from tfx_pipeline.synthetic import config as world_config


@pytest.mark.e2e
def test_demo_pipeline_pushes_a_model_the_server_answers(tmp_path, capfd):
  out = str(tmp_path)
  cfg = demo.DemoConfig(
      world=world_config.WorldConfig(num_requests=1500),
      pipeline=config_lib.PipelineConfig(train_steps=300))
  text = demo.run_demo(out, cfg)
  # Beam's worker processes (their stderr is this process's) exited without
  # TensorFlow's finalizer tracebacks (components/tf_exit.py).
  assert "Exception ignored" not in capfd.readouterr().err
  assert "decision on global hitrate@100: BLESSED" in text
  assert "gRPC Predict:" in text
  top = [line for line in text.splitlines() if line.startswith("   1. ")]
  assert len(top) == 1
  assert "from model version" in text
  assert "purchased items' ranks:" in text

  run_dir = os.path.join(out, demo.RUN)
  first_run = local_runner.read_run(run_dir)
  first = {r.component: r.state for r in first_run.components}
  assert first["ListwiseExampleGen"] == "ran"
  assert first["Trainer"] == "ran"
  assert first_run.pushed_version and not first_run.already_pushed
  base = os.path.dirname(first_run.pushed_version)
  versions = os.listdir(base)

  # The same run again reuses every cached result and, its model being the
  # one pushed, pushes no new version.
  again = local_runner.run(cfg.pipeline, os.path.join(out, demo.LOGS),
                           run_dir)
  states = {r.component: r.state for r in again.components}
  for component in ("ListwiseExampleGen", "Transform", "Trainer"):
    assert states[component] == "cached", states
  assert again.already_pushed
  assert again.pushed_version == first_run.pushed_version
  assert os.listdir(base) == versions
