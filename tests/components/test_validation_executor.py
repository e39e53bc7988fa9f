"""The HitrateValidator executor on a real run's eval data: the yardsticks are reported, and a model that only counts exposures is refused."""

import json
import os

from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.listwise import split as split_lib
from components.validation import component
from components.validation import data
from components.validation import executor
from components.validation import metrics
from components.validation import scorers
from testing import evaluation
from tfx_pipeline import run_result


def _artifact(cls, uri, splits=None):
  artifact = cls()
  artifact.uri = uri
  if splits:
    artifact.split_names = artifact_utils.encode_split_names(splits)
  os.makedirs(uri, exist_ok=True)
  return artifact


def _validate(result, model_uri, out):
  blessing = _artifact(standard_artifacts.ModelBlessing,
                       os.path.join(out, "blessing"))
  metrics_artifact = _artifact(component.HitrateMetrics,
                               os.path.join(out, "metrics"))
  gen = run_result.EXAMPLE_GEN
  executor.Executor().Do(
      {executor.MODEL_KEY: [_artifact(standard_artifacts.Model, model_uri)],
       executor.EVAL_CANDIDATES_KEY: [_artifact(
           standard_artifacts.Examples, result.uri(gen, "eval_candidates"),
           [split_lib.EVAL])],
       executor.EXAMPLES_KEY: [_artifact(
           standard_artifacts.Examples, result.examples,
           list(split_lib.SPLITS))]},
      {executor.BLESSING_KEY: [blessing],
       executor.METRICS_KEY: [metrics_artifact]},
      {executor.K_MAIN_KEY: "5%", executor.KS_KEY: json.dumps(["100", "5%"]),
       executor.THRESHOLD_KEY: 0.0, executor.TOLERANCE_KEY: 0.01,
       executor.HEAD_SHARE_KEY: 0.2, executor.BEAT_YARDSTICKS_KEY: 1})
  with open(os.path.join(metrics_artifact.uri, executor.METRICS_FILE)) as fh:
    return json.load(fh), blessing


def test_a_model_scoring_by_popularity_is_refused(pushed, tmp_path):
  result = pushed.result
  sets, _ = data.read_eval_sets(result.split(
      run_result.EXAMPLE_GEN, "eval_candidates", split_lib.EVAL))
  model_uri = str(tmp_path / "model")
  evaluation.save_rule_model(
      path_utils.serving_model_path(model_uri),
      evaluation.exposure_counter(metrics.exposure_lookup(sets)))
  report, blessing = _validate(result, model_uri, str(tmp_path / "out"))
  hitrate = report["hitrate"]
  assert set(hitrate) == {scorers.MODEL, scorers.FINE_RANKER,
                          *scorers.YARDSTICKS}
  assert hitrate[scorers.MODEL] == hitrate[scorers.POPULARITY]
  assert report["ndcg@10"][scorers.MODEL] == report["ndcg@10"][
      scorers.POPULARITY]
  # Popularity is a real scorer: better than the chance rate of K = 5%.
  assert hitrate[scorers.POPULARITY]["global"]["5%"] > 0.1
  assert not report["blessed"]
  best = max(scorers.YARDSTICKS,
             key=lambda name: hitrate[name]["global"]["5%"])
  assert report["reasons"][0].startswith(
      f"candidate hitrate {hitrate['model']['global']['5%']:.4f} does not "
      f"beat the best yardstick, {best}'s "
      f"{hitrate[best]['global']['5%']:.4f}")
  assert blessing.get_int_custom_property("blessed") == 0
  assert os.path.exists(os.path.join(blessing.uri, "NOT_BLESSED"))


def test_the_trained_model_is_compared_with_the_best_yardstick(pushed,
                                                              tmp_path):
  result = pushed.result
  report, blessing = _validate(result, result.model, str(tmp_path / "out"))
  model = report["hitrate"][scorers.MODEL]["global"]["5%"]
  best = max(report["hitrate"][name]["global"]["5%"]
             for name in scorers.YARDSTICKS)
  assert report["blessed"] == (model > best)
  assert blessing.get_int_custom_property("blessed") == int(model > best)
  assert report["k_main"] == "5%" and report["ks"] == ["100", "5%"]
