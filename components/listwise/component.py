"""ListwiseExampleGen: a TFX component that turns raw search logs into listwise examples."""

from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_beam_component
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ExecutionParameter

from components import code_fingerprint
from components.listwise import driver
from components.listwise import executor
from components.listwise import params as params_lib

LOGS_DIR_KEY = executor.LOGS_DIR_KEY
PARAMS_KEY = executor.PARAMS_KEY
EXAMPLES_KEY = executor.EXAMPLES_KEY
EVAL_CANDIDATES_KEY = executor.EVAL_CANDIDATES_KEY
REPORT_KEY = executor.REPORT_KEY


class ListwiseReport(artifact.Artifact):
  """The reconciliation report (report.json) and quarantined rows (*.jsonl)."""
  # KFP v2 imports a custom type from its TYPE_NAME: `<package>.<Class>`.
  TYPE_NAME = "components.ListwiseReport"


class ListwiseExampleGenSpec(types.ComponentSpec):
  PARAMETERS = {
      LOGS_DIR_KEY: ExecutionParameter(type=str),
      PARAMS_KEY: ExecutionParameter(type=str),
      executor.LOGS_FINGERPRINT_KEY: ExecutionParameter(type=str,
                                                        optional=True),
      code_fingerprint.KEY: ExecutionParameter(type=str, optional=True),
  }
  INPUTS = {}
  OUTPUTS = {
      EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
      EVAL_CANDIDATES_KEY: ChannelParameter(type=standard_artifacts.Examples),
      REPORT_KEY: ChannelParameter(type=ListwiseReport),
  }


class ListwiseExampleGen(base_beam_component.BaseBeamComponent):
  """Builds one listwise tf.Example per request from a raw logs directory.

  Outputs:
    examples: `train`, `valid` and `eval` splits (time split) of listwise
      examples, the `catalog` split (every catalog item, for the export) and
      `valid_candidates` (validation requests' candidate sets in
      training-schema chunks, for the Trainer's checkpoint choice).
    eval_candidates: an `eval` split with each eval request's full candidate
      set, fine scores, purchase labels and the yardsticks' counts.
    report: the reconciliation report and the quarantined rows.

  Its driver fingerprints the logs' files, and the component its own
  code: a rerun reuses the cached examples only when no table file was
  added, removed or rewritten and the executor's code is unchanged.
  """

  SPEC_CLASS = ListwiseExampleGenSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
  DRIVER_CLASS = driver.Driver

  def __init__(self, logs_dir: str,
               params: Optional[params_lib.ListwiseParams] = None):
    """Args: logs_dir: raw logs (DESIGN section 3); params: list building."""
    params = params or params_lib.ListwiseParams()
    super().__init__(ListwiseExampleGenSpec(
        logs_dir=logs_dir, params=params.to_json(),
        code_fingerprint=code_fingerprint.fingerprint(executor.__name__),
        examples=types.Channel(type=standard_artifacts.Examples),
        eval_candidates=types.Channel(type=standard_artifacts.Examples),
        report=types.Channel(type=ListwiseReport)))
