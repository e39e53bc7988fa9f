"""Executor of HitrateValidator: evaluates, blesses or not, writes metrics JSON and the curves PNG."""

import json
import logging
import os
from typing import Any, Dict, List

import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components.listwise import split as split_lib
from components.validation import beam_evaluate
from components.validation import blessing as blessing_lib
from components.validation import data
from components.validation import metrics
from components.validation import plot
from components.validation import report
from components.validation import scorers

MODEL_KEY = "model"
BASELINE_MODEL_KEY = "baseline_model"
EVAL_CANDIDATES_KEY = "eval_candidates"
EXAMPLES_KEY = "examples"
BLESSING_KEY = "blessing"
METRICS_KEY = "metrics"
K_MAIN_KEY = "k_main"
KS_KEY = "ks"
THRESHOLD_KEY = "threshold"
TOLERANCE_KEY = "tolerance"
HEAD_SHARE_KEY = "head_share"
BEAT_YARDSTICKS_KEY = "beat_yardsticks"

METRICS_FILE = report.METRICS_FILE
PLOT_FILE = report.PLOT_FILE
BLESSED_FILE = "BLESSED"
NOT_BLESSED_FILE = "NOT_BLESSED"
# The evaluation job's output, in the metrics artifact until it is read.
_EVALUATION_FILE = "evaluation.json"


class Executor(base_beam_executor.BaseBeamExecutor):
  """Blesses the model only if its global hitrate@K_main is good enough.

  The evaluation is a Beam job (beam_evaluate.py) run with the pipeline's
  beam_pipeline_args.
  """

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
    baselines = input_dict.get(BASELINE_MODEL_KEY) or []
    baseline = baselines[0] if baselines else None
    ks = json.loads(exec_properties[KS_KEY])  # ordered, with k_main.
    k_main = exec_properties[K_MAIN_KEY]

    saved_models = {scorers.MODEL: path_utils.serving_model_path(model.uri)}
    if baseline is not None:
      saved_models[scorers.BASELINE] = path_utils.serving_model_path(
          baseline.uri)
    logging.info("evaluating %s", saved_models)
    metrics_artifact = artifact_utils.get_single_instance(
        output_dict[METRICS_KEY])
    output = os.path.join(metrics_artifact.uri, _EVALUATION_FILE)
    result = beam_evaluate.run(
        data.split_files(artifact_utils.get_split_uri(
            input_dict[EVAL_CANDIDATES_KEY], split_lib.EVAL)),
        data.split_files(artifact_utils.get_split_uri(
            input_dict[EXAMPLES_KEY], split_lib.EVAL)),
        saved_models, ks, float(exec_properties[HEAD_SHARE_KEY]), output,
        self._make_beam_pipeline)
    tf.io.gfile.remove(output)

    main = lambda name: (result["hitrate"][name][metrics.GLOBAL][k_main]
                         if name in result["hitrate"] else None)
    decision = blessing_lib.decide(
        main(scorers.MODEL), float(exec_properties[THRESHOLD_KEY]),
        float(exec_properties[TOLERANCE_KEY]),
        baseline=main(scorers.BASELINE),
        has_baseline=baseline is not None,
        yardsticks=({name: main(name) for name in scorers.YARDSTICKS}
                    if exec_properties[BEAT_YARDSTICKS_KEY] else None))
    logging.info("global hitrate@%s: model %s, fine ranker %s, %s, last "
                 "blessed %s -> %s %s", k_main, main(scorers.MODEL),
                 main(scorers.FINE_RANKER),
                 ", ".join(f"{name} {main(name)}"
                           for name in scorers.YARDSTICKS),
                 main(scorers.BASELINE),
                 "BLESSED" if decision.blessed else "NOT BLESSED",
                 "; ".join(decision.reasons))
    self._write(output_dict, result, decision, k_main, ks, model, baseline)

  def _write(self, output_dict, result, decision, k_main, ks, model,
             baseline) -> None:
    metrics_artifact = artifact_utils.get_single_instance(
        output_dict[METRICS_KEY])
    summary = {**{k: v for k, v in result.items() if k != "hitrate"},
               "hitrate": {name: metrics.as_json(table)
                           for name, table in result["hitrate"].items()},
               "k_main": k_main, "blessed": decision.blessed,
               "reasons": decision.reasons,
               "model_uri": model.uri,
               "baseline_model_uri": baseline.uri if baseline else None}
    with tf.io.gfile.GFile(os.path.join(metrics_artifact.uri, METRICS_FILE),
                           "w") as out:
      out.write(json.dumps(summary, indent=2, sort_keys=True))
    with tf.io.gfile.GFile(os.path.join(metrics_artifact.uri, PLOT_FILE),
                           "wb") as out:
      out.write(plot.plot_hitrate_curves(result["hitrate"], ks))

    blessing = artifact_utils.get_single_instance(output_dict[BLESSING_KEY])
    blessing.set_int_custom_property("blessed", int(decision.blessed))
    blessing.set_string_custom_property("current_model", model.uri)
    blessing.set_int_custom_property("current_model_id", model.id)
    if baseline is not None:
      blessing.set_string_custom_property("baseline_model", baseline.uri)
      blessing.set_int_custom_property("baseline_model_id", baseline.id)
    marker = BLESSED_FILE if decision.blessed else NOT_BLESSED_FILE
    with tf.io.gfile.GFile(os.path.join(blessing.uri, marker), "w") as out:
      out.write("\n".join(decision.reasons))
