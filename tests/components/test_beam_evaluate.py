"""The validation's Beam evaluation gives the in-memory evaluation's numbers, on DirectRunner with 2 worker processes."""

import apache_beam as beam
from apache_beam.options import pipeline_options
import numpy as np
import pytest
from tfx.utils import path_utils

from components.listwise import split as split_lib
from components.validation import beam_evaluate
from components.validation import data
from components.validation import evaluate
from components.validation import scorers
from components.validation import scoring
from testing import evaluation
from tfx_pipeline import run_result

_KS = ["10", "5%", "25%"]


def _two_workers() -> beam.Pipeline:
  return beam.Pipeline(options=pipeline_options.PipelineOptions([
      "--runner=DirectRunner", "--direct_running_mode=multi_processing",
      "--direct_num_workers=2"]))


@pytest.mark.slow
def test_beam_evaluation_equals_the_in_memory_one(pushed, tmp_path):
  result = pushed.result
  candidates = result.split(run_result.EXAMPLE_GEN, "eval_candidates",
                            split_lib.EVAL)
  lists = result.split(run_result.EXAMPLE_GEN, "examples", split_lib.EVAL)
  model = path_utils.serving_model_path(result.model)
  # The same SavedModel as the last blessed one too: two models per worker.
  saved_models = {scorers.MODEL: model, scorers.BASELINE: model}
  sets, contexts = data.read_eval_sets(candidates)
  assert len(sets) > 2 * beam_evaluate.BATCH_SIZE  # several batches
  expected = evaluate.evaluate(
      sets, contexts, data.read_exposed_lists(lists),
      {name: scoring.SavedModelScorer(path).score
       for name, path in saved_models.items()}, _KS, head_share=0.2)

  actual = beam_evaluate.run(
      data.split_files(candidates), data.split_files(lists), saved_models,
      _KS, 0.2, str(tmp_path / "evaluation.json"), _two_workers)

  evaluation.assert_same_metrics(actual, expected)
  assert actual["requests"] == len(sets)
  assert set(actual["hitrate"]) == {scorers.MODEL, scorers.BASELINE,
                                    scorers.FINE_RANKER, *scorers.YARDSTICKS}
  assert actual["hitrate"][scorers.MODEL] == actual["hitrate"][
      scorers.BASELINE]
  assert 0 < actual["hitrate"][scorers.MODEL]["global"]["25%"] <= 1
  assert np.isfinite(actual["ndcg@10"][scorers.MODEL])
