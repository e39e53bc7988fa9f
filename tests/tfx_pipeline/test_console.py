"""The command line's console: quiet by default, every log with --verbose.

A whole run's console is tested with the demo, quiet, and with -v on its
rerun by `coarse-rank -v run` (tests/tfx_pipeline/test_e2e.py).
"""

import logging
import os


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
