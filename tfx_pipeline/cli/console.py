"""The command line's console: quiet by default (this project's progress, TFX's components, errors), every log with --verbose."""

import importlib.util
import logging
import os
import sys
import time

from absl import logging as absl_logging

# Packages of this project: records logged by their code (INFO and up) are
# the progress and warnings a command reports.
PROJECT_PACKAGES = ("components", "models", "serving", "tfx_pipeline")
# TFX's LocalDagRunner announces each component on the absl logger.
_TFX_LOGGER = "absl"
_TFX_PROGRESS = ("Component %s is running.", "Component %s is finished.")
# Set in the environment, so that TensorFlow (imported later) and Beam's
# worker processes inherit them: no C++ logs of TensorFlow (its errors reach
# Python as exceptions; the rest, e.g. "Unable to register cuDNN factory" at
# every import, is noise), no Python warnings in the workers (the command's
# own become log records, see configure).
QUIET_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
VERBOSE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _QuietFilter(logging.Filter):
  """Passes errors, records logged by this project's code, TFX's progress."""

  def __init__(self):
    super().__init__()
    self._project_dirs = tuple(
        os.path.dirname(importlib.util.find_spec(package).origin) + os.sep
        for package in PROJECT_PACKAGES)

  def filter(self, record: logging.LogRecord) -> bool:
    if record.levelno >= logging.ERROR:
      return True
    if record.pathname.startswith(self._project_dirs):
      return True
    return record.name == _TFX_LOGGER and record.msg in _TFX_PROGRESS


class _QuietFormatter(logging.Formatter):
  """`HH:MM:SS message`, with the level before warnings and errors."""

  def format(self, record: logging.LogRecord) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
    level = "" if record.levelno <= logging.INFO else f" {record.levelname}"
    text = f"{stamp}{level} {record.getMessage()}"
    if record.exc_info:
      text += "\n" + self.formatException(record.exc_info)
    return text


def configure(verbose: bool) -> None:
  """Sets up a command's logging, unless the process already has.

  Verbose: every record at DEBUG and up, with its time, level and logger.
  Quiet: on stderr, one line per record of this project at INFO and up, per
  TFX component started or finished, and per error from anyone; Python
  warnings become log records (shown with --verbose); see
  QUIET_ENVIRONMENT for TensorFlow's C++ logs and Beam's workers.
  """
  root = logging.getLogger()
  if root.handlers:  # Configured by the embedding program, e.g. pytest.
    return
  # absl's logger (TFX's, with its component progress) follows absl's
  # verbosity, WARNING unless set: tf.saved_model.save restores that
  # verbosity after silencing it, which would end TFX's INFO records at the
  # first model saved.
  absl_logging.set_verbosity(absl_logging.DEBUG if verbose
                             else absl_logging.INFO)
  if verbose:
    logging.basicConfig(level=logging.DEBUG, format=VERBOSE_FORMAT)
    return
  for name, value in QUIET_ENVIRONMENT.items():
    os.environ.setdefault(name, value)
  logging.captureWarnings(True)
  handler = logging.StreamHandler(sys.stderr)
  handler.addFilter(_QuietFilter())
  handler.setFormatter(_QuietFormatter())
  root.addHandler(handler)
  root.setLevel(logging.INFO)
