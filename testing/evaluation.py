"""Helpers for tests of the validation: SavedModels that score candidates by a rule, and a comparison of two evaluations' metrics."""

import math
from typing import Callable, Mapping

import numpy as np
import pytest
import tensorflow as tf

from models import features as f
from models import serving as model_serving

# Candidate item ids `[batch, num_candidates]` -> float32 scores, same shape.
CandidateScores = Callable[[tf.Tensor], tf.Tensor]


class _RuleModel(tf.Module):
  """A 'model' whose serving_default scores candidates by a rule of their ids."""

  def __init__(self, rule: CandidateScores):
    super().__init__()
    self._rule = rule

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.string),
      tf.TensorSpec([None, None], tf.string), tf.TensorSpec([None], tf.int64),
      tf.TensorSpec([None], tf.int64), tf.TensorSpec([None], tf.string),
      tf.TensorSpec([None, None], tf.string)])
  def serve(self, user_id, query, user_history, age_bucket, purchase_power,
            gender, candidate_item_ids):
    del user_id, query, user_history, age_bucket, purchase_power, gender
    return {model_serving.SCORES: tf.where(
        tf.equal(candidate_item_ids, f.PAD_STRING), -np.inf,
        self._rule(candidate_item_ids))}


def save_rule_model(path: str, rule: CandidateScores) -> str:
  """Saves a SavedModel scoring candidates by `rule` at `path`; returns it."""
  model = _RuleModel(rule)
  tf.saved_model.save(model, path, signatures={
      model_serving.SERVING_DEFAULT: model.serve})
  return path


class _ExposureCounter(tf.Module):
  """The rule of popularity: an item's train exposures (0 if unknown)."""

  def __init__(self, exposures: Mapping[str, int]):
    super().__init__()
    self._table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(list(exposures)),
            tf.constant(list(exposures.values()), tf.float32)), 0.0)

  def __call__(self, item_ids: tf.Tensor) -> tf.Tensor:
    return self._table.lookup(item_ids)


def exposure_counter(exposures: Mapping[str, int]) -> CandidateScores:
  """Popularity as a rule: its table is saved with the model (a tf.Module)."""
  return _ExposureCounter(exposures)


def id_hash(item_ids: tf.Tensor) -> tf.Tensor:
  """A rule unrelated to the logs: a hash of the id into [0, 1000)."""
  return tf.cast(tf.strings.to_hash_bucket_fast(item_ids, 1000), tf.float32)


def assert_same_metrics(actual, expected, where: str = "") -> None:
  """Equal structure; floats equal to 1e-9 (sums in another order), NaN to NaN."""
  if isinstance(expected, dict):
    assert sorted(actual) == sorted(expected), where
    for key in expected:
      assert_same_metrics(actual[key], expected[key], f"{where}/{key}")
  elif isinstance(expected, float):
    assert (math.isnan(actual) if math.isnan(expected)
            else actual == pytest.approx(expected, rel=1e-9, abs=1e-12)), (
                where, actual, expected)
  else:
    assert actual == expected, where
