"""Driver of ListwiseExampleGen: fingerprints the logs so a cached run is reused only on the same files."""

from typing import Any, Dict

from tfx.dsl.components.base import base_driver
from tfx.orchestration import data_types_utils
from tfx.orchestration.portable import base_driver as ir_base_driver
from tfx.orchestration.portable import data_types
from tfx.proto.orchestration import driver_output_pb2

from components.listwise import executor
from components.raw_logs import files as log_files


class Driver(base_driver.BaseDriver, ir_base_driver.BaseDriver):
  """Adds the `logs_fingerprint` execution property before the cache check.

  TFX reuses a cached execution when its inputs and execution properties
  are unchanged; the logs directory is a path, so without the fingerprint of
  its files (as FileBasedExampleGen's driver computes for its inputs) new or
  rewritten log files would not be seen.
  """

  def __init__(self, metadata_handle):
    base_driver.BaseDriver.__init__(self, metadata_handle)
    ir_base_driver.BaseDriver.__init__(self, metadata_handle)

  def resolve_exec_properties(self, exec_properties: Dict[str, Any],
                              pipeline_info, component_info
                              ) -> Dict[str, Any]:
    del pipeline_info, component_info
    logs_dir = exec_properties[executor.LOGS_DIR_KEY]
    return {**exec_properties, executor.LOGS_FINGERPRINT_KEY:
            log_files.LogFiles(logs_dir).fingerprint()}

  def run(self, execution_info: data_types.ExecutionInfo
          ) -> driver_output_pb2.DriverOutput:
    result = driver_output_pb2.DriverOutput()
    exec_properties = self.resolve_exec_properties(
        execution_info.exec_properties, None, None)
    data_types_utils.set_metadata_value(
        result.exec_properties[executor.LOGS_FINGERPRINT_KEY],
        exec_properties[executor.LOGS_FINGERPRINT_KEY])
    return result
