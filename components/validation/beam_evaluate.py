"""The validation's evaluation as a Beam job: eval sets are scored in batches where they are read, and only their sums are combined.

No step holds every eval set. Each worker loads the SavedModels once
(DoFn.setup), scores batches of requests through serving_default, and emits
evaluate.set_sums / evaluate.list_sums; a combiner adds them up and
evaluate.summarize turns the total into the same metrics as
evaluate.evaluate. The yardsticks read each set's own columns; the head
threshold, computed from a histogram of the distinct candidate items' train
exposures, reaches every worker as a side input.
"""

import functools
import json
import logging
import time
from typing import Callable, Iterable, Mapping, Sequence, Tuple

import apache_beam as beam
import tensorflow as tf

from components import beam_direct
from components.listwise import encode
from components.validation import data
from components.validation import evaluate as evaluate_lib
from components.validation import metrics
from components.validation import scoring

# Requests per serving_default call (as SavedModelScorer's default).
BATCH_SIZE = 64


class _SumSums(beam.CombineFn):
  """Adds evaluate.Sums up."""

  def create_accumulator(self) -> evaluate_lib.Sums:
    return {}

  def add_input(self, accumulator, sums):
    return evaluate_lib.add(accumulator, sums)

  def merge_accumulators(self, accumulators):
    return functools.reduce(evaluate_lib.add, accumulators, {})

  def extract_output(self, accumulator):
    return accumulator


class _Score(beam.DoFn):
  """Scores batches with the SavedModels; emits their sums.

  Args:
    saved_models: scorer name -> SavedModel directory, loaded once per
      worker.
    sums_fn: (batch, score functions) -> evaluate.Sums.
  """

  def __init__(self, saved_models: Mapping[str, str],
               sums_fn: Callable[..., evaluate_lib.Sums]):
    super().__init__()
    self._paths = dict(saved_models)
    self._sums_fn = sums_fn
    self._models = {}

  def setup(self):
    self._models = {name: scoring.SavedModelScorer(path, BATCH_SIZE).score
                    for name, path in self._paths.items()}

  def process(self, batch, *args):
    yield self._sums_fn(batch, self._models, *args)


def _set_sums(batch: Sequence[Tuple[metrics.EvalSet, dict]], score_fns,
              ks: Sequence[str], head_min_exposures: int):
  return evaluate_lib.set_sums([s for s, _ in batch], [c for _, c in batch],
                               score_fns, ks, head_min_exposures)


def _exposures(eval_set: Tuple[metrics.EvalSet, dict]
               ) -> Iterable[Tuple[str, int]]:
  s, _ = eval_set
  return zip(map(str, s.item_ids), map(int, s.train_exposures))


def _read(p: beam.Pipeline, label: str, pattern: str) -> beam.PCollection:
  return (p | f"Read{label}" >> beam.io.ReadFromTFRecord(
      pattern, compression_type=beam.io.filesystem.CompressionTypes.GZIP)
          | f"Decode{label}" >> beam.Map(encode.decode))


def _batched(pcoll: beam.PCollection, label: str) -> beam.PCollection:
  return pcoll | f"Batch{label}" >> beam.BatchElements(
      min_batch_size=BATCH_SIZE, max_batch_size=BATCH_SIZE)


def build(p: beam.Pipeline, eval_candidates: str, examples: str,
          saved_models: Mapping[str, str], ks: Sequence[str],
          head_share: float, output: str) -> None:
  """Adds the evaluation to `p`; it writes evaluate.summarize's dict as JSON to `output`.

  Args:
    p: the pipeline.
    eval_candidates: file pattern of the eval candidate sets' examples.
    examples: file pattern of the eval lists' examples.
    saved_models: scorer name -> SavedModel directory, e.g.
      {scorers.MODEL: ...}.
    ks: hitrate cutoffs (cutoffs.parse).
    head_share: share of most-exposed candidate items that are 'head'.
    output: the JSON file to write.
  """
  sets = (_read(p, "EvalSets", eval_candidates)
          | "ToEvalSets" >> beam.Map(data.eval_set_of))
  exposures = (sets | "ItemExposures" >> beam.FlatMap(_exposures)
               | "OnePerItem" >> beam.CombinePerKey(max))
  head = (exposures | "Exposures" >> beam.Values()
          | "ItemsPerExposures" >> beam.combiners.Count.PerElement()
          | "Histogram" >> beam.combiners.ToDict()
          | "HeadThreshold" >> beam.Map(metrics.head_threshold_of_histogram,
                                        head_share))
  head_threshold = beam.pvalue.AsSingleton(head)
  set_sums = (_batched(sets, "EvalSets") | "ScoreEvalSets" >> beam.ParDo(
      _Score(saved_models, _set_sums), list(ks), head_threshold))
  lists = (_read(p, "Lists", examples)
           | "ExposedItems" >> beam.FlatMap(
               lambda e: [x for x in [data.exposed_list_of(e)] if x]))
  list_sums = (_batched(lists, "Lists") | "ScoreLists" >> beam.ParDo(
      _Score(saved_models, evaluate_lib.list_sums)))
  names = evaluate_lib.scorer_names(saved_models)
  _ = ((set_sums, list_sums) | "Flatten" >> beam.Flatten()
       | "Sum" >> beam.CombineGlobally(_SumSums())
       | "Summarize" >> beam.Map(
           lambda sums, head: evaluate_lib.summarize(sums, names, ks, head),
           head_threshold)
       | "ToJson" >> beam.Map(json.dumps, sort_keys=True)
       | "Write" >> beam.io.WriteToText(output, shard_name_template="",
                                        num_shards=1))


def run(eval_candidates: str, examples: str,
        saved_models: Mapping[str, str], ks: Sequence[str],
        head_share: float, output: str,
        make_pipeline: Callable[[], beam.Pipeline] = beam.Pipeline) -> dict:
  """Runs the evaluation (see build) and returns evaluate.summarize's dict."""
  start = time.time()
  beam_direct.use_size_based_runner_flush()
  with make_pipeline() as p:
    build(p, eval_candidates, examples, saved_models, ks, head_share, output)
  with tf.io.gfile.GFile(output) as f:
    result = json.load(f)
  logging.info("evaluated %d eval sets and %d exposed lists in %.1fs",
               result["requests"], result["counts"]["exposed_lists"],
               time.time() - start)
  return result
