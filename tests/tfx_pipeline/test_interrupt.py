"""Ctrl-C during a run: one line, exit 130, and the running component's partial outputs removed."""

import os
import sys
import textwrap

import pytest

from models import hparams as hparams_lib
from tfx_pipeline import beam_options
from tfx_pipeline import cli
from tfx_pipeline import config as config_lib
from tfx_pipeline import local_runner
from tfx_pipeline import run_result
from tfx_pipeline.synthetic import config as world_config
from tfx_pipeline.synthetic import write

# A run_fn that writes part of a model, then is interrupted.
_MODULE = """\
import os


def run_fn(fn_args):
  os.makedirs(fn_args.serving_model_dir, exist_ok=True)
  with open(os.path.join(fn_args.serving_model_dir, "half"), "w") as f:
    f.write("half a model")
  raise KeyboardInterrupt
"""


@pytest.mark.e2e
def test_ctrl_c_in_a_component_stops_with_one_line_and_no_partial_output(
    tmp_path, monkeypatch, capsys):
  code = tmp_path / "code"
  code.mkdir()
  (code / "interrupted_model.py").write_text(textwrap.dedent(_MODULE))
  monkeypatch.syspath_prepend(str(code))
  monkeypatch.delitem(sys.modules, "interrupted_model", raising=False)
  logs = str(tmp_path / "logs")
  write.write_logs(logs, world_config.WorldConfig(
      num_requests=600, num_items=600, seed=5))
  out = str(tmp_path / "run")
  status = cli.main([
      "run", "--logs", logs, "--output", out, "--stop-after", "train",
      "--run-fn", "interrupted_model.run_fn", "--train-steps", "2",
      "--beam-mode", "in_memory"])
  assert status == 130
  err = capsys.readouterr().err
  lines = [l for l in err.splitlines() if l.startswith("stopped: ")]
  # Its model, model_run and executor scratch folders.
  assert lines == ["stopped: interrupted during Trainer; removed its "
                   "partial outputs (3 folders)"], err
  assert "Traceback" not in err
  run = run_result.read_run(out)
  trainer = run.component(run_result.TRAINER)
  assert trainer.state == "running"
  folder = os.path.join(out, "pipeline", run_result.TRAINER)
  for key in ("model", "model_run"):
    assert not os.path.exists(os.path.join(folder, key,
                                           str(trainer.execution_id)))
  # The components that finished keep their outputs, and the next run
  # reuses them and runs the Trainer anew.
  transform = run.component(run_result.TRANSFORM)
  assert transform.state == "ran"
  assert all(os.path.isdir(u) for uris in transform.outputs.values()
             for u in uris)
  again = local_runner.run(
      config_lib.PipelineConfig(
          hparams=hparams_lib.HParams(batch_size=16, checkpoints=1),
          train_steps=2, eval_steps=1, stop_after=config_lib.TRAIN),
      logs, out, beam_options.beam_args("in_memory"))
  states = {r.component: r.state for r in again.components}
  assert states[run_result.TRANSFORM] == "cached"
  assert states[run_result.TRAINER] == "ran"
