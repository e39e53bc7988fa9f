"""The command line's console: quiet by default, every log with --verbose."""

import logging
import os
import subprocess
import sys

import pytest

from tfx_pipeline import local_runner
from tfx_pipeline.cli import console


def _record(name, level, pathname, msg="m", args=()):
  return logging.LogRecord(name, level, pathname, 1, msg, args, None)


def test_the_quiet_console_shows_this_project_tfx_progress_and_errors():
  shown = console._QuietFilter().filter  # pylint: disable=protected-access
  ours = os.path.join(os.path.dirname(local_runner.__file__), "x.py")
  theirs = os.path.join(os.path.dirname(logging.__file__), "x.py")
  assert shown(_record("root", logging.INFO, ours))
  assert shown(_record("serving.manager", logging.WARNING, ours))
  assert shown(_record("absl", logging.INFO, theirs,
                       "Component %s is running.", ("Trainer",)))
  assert shown(_record("tensorflow", logging.ERROR, theirs))
  assert not shown(_record("absl", logging.INFO, theirs, "Publishing %s"))
  assert not shown(_record("tensorflow", logging.WARNING, theirs))
  assert not shown(_record("py.warnings", logging.WARNING, theirs))


@pytest.mark.e2e
def test_console_of_a_run(tmp_path):
  """A run up to training: progress and results only; all of it with -v."""
  logs = str(tmp_path / "logs")
  command = [sys.executable, "-m", "tfx_pipeline.cli"]
  subprocess.run(command + ["generate", "--out", logs, "--requests", "200",
                            "--items", "600"], check=True,
                 capture_output=True)
  run = ["run", "--logs", logs, "--output", str(tmp_path / "out"),
         "--stop-after", "train", "--train-steps", "20", "--beam-mode",
         "in_memory"]
  env = dict(os.environ, TF_USE_LEGACY_KERAS="1")
  quiet = subprocess.run(command + run, capture_output=True, text=True,
                         env=env, check=True)
  lines = quiet.stderr.splitlines()
  assert len(lines) < 60, quiet.stderr
  for component in ("ListwiseExampleGen", "Transform", "Trainer"):
    assert any(line.endswith(f"Component {component} is finished.")
               for line in lines), quiet.stderr
  assert any("pipeline finished in" in line for line in lines)
  assert "stopped after train; outputs:" in quiet.stdout
  assert "Exception ignored" not in quiet.stderr

  verbose = subprocess.run(command + ["-v"] + run, capture_output=True,
                           text=True, env=env, check=True)
  assert " INFO absl: " in verbose.stderr
  assert len(verbose.stderr.splitlines()) > 3 * len(lines)
