"""TFX's Transform with an executor that mends Beam's local data plane first (components/beam_direct.py).

The local runner applies `beam_direct.use_size_based_runner_flush` to its
whole process, so the Transform it runs in that process is mended. A step
run on its own, as Kubeflow runs each one in a container of its own
(`kubeflow_v2_run_executor`), gets no such call: with
`--direct_running_mode=multi_processing` (or `multi_threading`) in its Beam
args, TFX's stock executor would run on Beam's unmended data plane and
could lose input. `Executor` applies the mend in the step's own process
before Transform builds its pipeline; every other runner (in-memory,
Dataflow, Flink, Spark) is unaffected by it.
"""

from typing import Any, Dict, List

from tfx import types
from tfx import v1 as tfx
from tfx.components.transform import executor as transform_executor
from tfx.dsl.components.base import executor_spec

from components import beam_direct


class Executor(transform_executor.Executor):
  """TFX's Transform executor, the data-plane mend applied before it runs."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    beam_direct.use_size_based_runner_flush()
    super().Do(input_dict, output_dict, exec_properties)


class Transform(tfx.components.Transform):
  """`tfx.components.Transform` (same id, inputs and outputs), run by `Executor`."""

  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
