"""End to end: `coarse-rank demo` (tiny generated logs -> local pipeline -> pushed model -> the local server answers over gRPC), its console, and the cached rerun."""

import os
import subprocess
import sys

import pytest

from tfx_pipeline import demo
from tfx_pipeline import run_result

_COMMAND = [sys.executable, "-m", "tfx_pipeline.cli"]
_ENV = dict(os.environ, TF_USE_LEGACY_KERAS="1")
_COMPONENTS = (run_result.EXAMPLE_GEN, run_result.TRANSFORM,
               run_result.TRAINER)


def _cli(*args):
  proc = subprocess.run(_COMMAND + list(args), capture_output=True,
                        text=True, env=_ENV, check=False, timeout=1800)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
  return proc


@pytest.mark.e2e
def test_demo_pushes_a_model_the_server_answers_and_says_only_that(tmp_path):
  # The README's main job, its defaults: 1,500 requests and 1,000 steps
  # left the blessing to 1 or 2 of 54 eval purchases, and it failed once.
  out = str(tmp_path / "demo")
  run = _cli("demo", "--out", out)
  text = run.stdout
  assert "decision on global hitrate@5%: BLESSED" in text, text
  assert "gRPC Predict:" in text
  top = [line for line in text.splitlines() if line.startswith("   1. ")]
  assert len(top) == 1
  assert "from model version" in text
  assert "purchased items' ranks:" in text

  # The console: progress and results only. Beam's worker processes
  # (their stderr is the command's) exited without TensorFlow's finalizer
  # tracebacks (components/tf_exit.py).
  lines = run.stderr.splitlines()
  assert len(lines) < 60, run.stderr
  for component in _COMPONENTS:
    assert any(line.endswith(f"Component {component} is finished.")
               for line in lines), run.stderr
  assert any("pipeline finished in" in line for line in lines)
  assert "Exception ignored" not in run.stderr

  run_dir = os.path.join(out, demo.RUN)
  first_run = run_result.read_run(run_dir)
  first = {r.component: r.state for r in first_run.components}
  assert first[run_result.EXAMPLE_GEN] == "ran"
  assert first[run_result.TRAINER] == "ran"
  assert first_run.pushed_version and not first_run.already_pushed
  base = os.path.dirname(first_run.pushed_version)
  versions = os.listdir(base)

  # The same run again from `coarse-rank run`, with every log (-v): it
  # reuses every cached result and, its model being the one pushed, pushes
  # no new version. The validator runs again (the last blessed model is a
  # new input), a Beam executor that parses sys.argv, where absl took the
  # -v for its --verbosity before the CLI hid the arguments.
  again_run = _cli("-v", "run", "--logs", os.path.join(out, demo.LOGS),
                   "--output", run_dir)
  assert " INFO absl: " in again_run.stderr
  assert len(again_run.stderr.splitlines()) > 3 * len(lines)
  assert "not pushed again: " in again_run.stdout
  again = run_result.read_run(run_dir)
  states = {r.component: r.state for r in again.components}
  for component in _COMPONENTS:
    assert states[component] == "cached", states
  assert again.already_pushed
  assert again.pushed_version == first_run.pushed_version
  assert os.listdir(base) == versions
