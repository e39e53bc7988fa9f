"""Executor of ListwiseExampleGen: runs the Beam stage into the output artifacts."""

import os
from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils

from components.listwise import beam_pipeline
from components.listwise import params as params_lib
from components.listwise import split as split_lib

LOGS_DIR_KEY = "logs_dir"
PARAMS_KEY = "params"
# Set by the driver, part of the cache key only.
LOGS_FINGERPRINT_KEY = "logs_fingerprint"
EXAMPLES_KEY = "examples"
EVAL_CANDIDATES_KEY = "eval_candidates"
REPORT_KEY = "report"
QUARANTINE_DIR = "quarantine"


class Executor(base_beam_executor.BaseBeamExecutor):
  """Reads `logs_dir`, writes examples, eval candidates and the report."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    params = params_lib.ListwiseParams.from_json(exec_properties[PARAMS_KEY])
    examples = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
    example_splits = (*split_lib.SPLITS, split_lib.CATALOG,
                      split_lib.VALID_CANDIDATES)
    examples.split_names = artifact_utils.encode_split_names(
        list(example_splits))
    eval_sets = artifact_utils.get_single_instance(
        output_dict[EVAL_CANDIDATES_KEY])
    eval_sets.split_names = artifact_utils.encode_split_names(
        [split_lib.EVAL])
    report_artifact = artifact_utils.get_single_instance(
        output_dict[REPORT_KEY])
    out = beam_pipeline.OutputPaths(
        **{split: artifact_utils.get_split_uri([examples], split)
           for split in example_splits},
        eval_candidates=artifact_utils.get_split_uri([eval_sets],
                                                     split_lib.EVAL),
        quarantine=os.path.join(report_artifact.uri, QUARANTINE_DIR),
        report=report_artifact.uri)
    report = beam_pipeline.run(exec_properties[LOGS_DIR_KEY], params, out,
                               self._make_beam_pipeline)
    quarantined = sum(t["quarantined"] for t in report["tables"].values())
    report_artifact.set_int_custom_property("quarantined_rows", quarantined)
    for split in split_lib.SPLITS:
      report_artifact.set_int_custom_property(
          f"{split}_lists", report["lists"].get(split, 0))
