"""TFX's cache sees the code: a changed line of the model code reruns the Trainer, an unchanged rerun is cached."""

import sys
import textwrap

import pytest

from models import hparams as hparams_lib
from tfx_pipeline import beam_options
from tfx_pipeline import config as config_lib
from tfx_pipeline import local_runner
from tfx_pipeline import run_result
from tfx_pipeline.synthetic import config as world_config
from tfx_pipeline.synthetic import write

_MODULE = """\
from models import trainer

# The line the test changes.
VERSION = {version}


def run_fn(fn_args):
  trainer.run_fn(fn_args)
"""


def _states(result):
  return {r.component: r.state for r in result.components}


@pytest.mark.e2e
def test_a_model_code_change_reruns_the_trainer_and_nothing_else(
    tmp_path, monkeypatch):
  code = tmp_path / "code"
  (code / "user_model").mkdir(parents=True)
  (code / "user_model" / "__init__.py").write_text("")
  module = code / "user_model" / "model.py"
  module.write_text(_MODULE.format(version=1))
  monkeypatch.syspath_prepend(str(code))
  monkeypatch.delitem(sys.modules, "user_model", raising=False)
  monkeypatch.delitem(sys.modules, "user_model.model", raising=False)
  logs = str(tmp_path / "logs")
  write.write_logs(logs, world_config.WorldConfig(
      num_requests=600, num_items=600, seed=5))
  config = config_lib.PipelineConfig(
      hparams=hparams_lib.HParams(batch_size=16, checkpoints=1),
      train_steps=4, eval_steps=1, stop_after=config_lib.TRAIN,
      run_fn="user_model.model.run_fn")
  run = lambda: local_runner.run(config, logs, str(tmp_path / "run"),
                                 beam_options.beam_args("in_memory"))

  first = _states(run())
  assert first[run_result.TRAINER] == "ran"
  unchanged = _states(run())
  assert {unchanged[c] for c in (run_result.EXAMPLE_GEN,
                                 run_result.TRANSFORM,
                                 run_result.TRAINER)} == {"cached"}

  module.write_text(textwrap.dedent(_MODULE.format(version=2)))
  changed = _states(run())
  assert changed[run_result.TRAINER] == "ran"
  assert changed[run_result.EXAMPLE_GEN] == "cached"
  assert changed[run_result.TRANSFORM] == "cached"
