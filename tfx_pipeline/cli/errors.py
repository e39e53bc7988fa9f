"""The project's exceptions a command reports as a message and an exit status, in one table."""

import sys
from typing import Callable, Optional, Tuple

# Exit statuses shared by every command.
OK = 0
FAILED = 1  # The work ran and found faults (row faults, quarantine limit).
USAGE = 2  # Bad arguments, configuration or input schema: nothing ran.
NOT_BLESSED = 3  # `run --require-blessing`: the run's model was not blessed.
INTERRUPTED = 130  # Ctrl-C, as a shell reports a process SIGINT stopped.

# (module, exception class, exit status, message prefix). A class is looked
# up only if its module is already imported: an exception of a module that
# was never imported cannot have been raised, and `--help` stays light.
TABLE = (
    ("components.raw_logs.files", "LogSchemaError", USAGE, "schema error"),
    ("components.listwise.report", "QuarantineLimitError", FAILED, "error"),
    ("tfx_pipeline.cli.flags", "UsageError", USAGE, "error"),
    ("tfx_pipeline.synthetic.write", "OutputNotEmptyError", USAGE, "error"),
    ("tfx_pipeline.run_result", "NoRunError", USAGE, "error"),
    ("tfx_pipeline.local_runner", "Interrupted", INTERRUPTED, "stopped"),
    ("tfx_pipeline.outputs", "OutputDirError", USAGE, "error"),
    ("tfx_pipeline.outputs", "OutputNotEmptyError", USAGE, "error"),
    ("tfx_pipeline.kubeflow_runner", "CompileError", USAGE, "error"),
    ("serving.config", "ConfigError", USAGE, "error"),
    ("serving.server", "BindError", USAGE, "error"),
    ("serving.batching_config", "BatchingConfigError", USAGE, "error"),
)


def classify(error: BaseException) -> Optional[Tuple[int, str]]:
  """(exit status, message prefix) of a known error, None otherwise."""
  for module, name, status, prefix in TABLE:
    cls = getattr(sys.modules.get(module), name, None)
    if cls is not None and isinstance(error, cls):
      return status, prefix
  return None


def call(handler: Callable[..., int], *args) -> int:
  """Runs a command; a known error prints one line and returns its status.

  Any other exception propagates with its traceback: it is a bug. Ctrl-C
  outside a pipeline run prints one line too.
  """
  try:
    return handler(*args)
  except KeyboardInterrupt:
    print("stopped: interrupted", file=sys.stderr)
    return INTERRUPTED
  except Exception as error:  # pylint: disable=broad-except
    known = classify(error)
    if known is None:
      raise
    status, prefix = known
    print(f"{prefix}: {error}", file=sys.stderr)
    return status
