"""Tests of the listwise metrics against hand-computed and NumPy values."""


import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from models import metrics
from models.metrics import listwise


def _np_ranking(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
  """Valid indices by descending score, ties by ascending index."""
  indices = np.flatnonzero(valid)
  return indices[np.argsort(-scores[indices], kind="stable")]


def _np_hitrate(labels, scores, mask, k):
  values, weights = [], []
  for label, score, valid in zip(np.asarray(labels, np.float64),
                                 np.asarray(scores, np.float64),
                                 np.asarray(mask, bool)):
    positives = valid & (label > 0)
    top = _np_ranking(score, valid)[:k]
    num_positives = positives.sum()
    values.append(positives[top].sum() / num_positives if num_positives
                  else 0.0)
    weights.append(float(num_positives > 0))
  return np.array(values), np.array(weights)


def _np_ndcg(labels, scores, mask, k):
  values, weights = [], []
  for label, score, valid in zip(np.asarray(labels, np.float64),
                                 np.asarray(scores, np.float64),
                                 np.asarray(mask, bool)):
    gains = np.where(valid, 2.0**np.maximum(label, 0) - 1, 0.0)
    ranked = gains[_np_ranking(score, valid)][:k]
    ideal = np.sort(gains)[::-1][:k]
    dcg = np.sum(ranked / np.log2(np.arange(2, len(ranked) + 2)))
    ideal_dcg = np.sum(ideal / np.log2(np.arange(2, len(ideal) + 2)))
    values.append(dcg / ideal_dcg if ideal_dcg > 0 else 0.0)
    weights.append(float(ideal_dcg > 0))
  return np.array(values), np.array(weights)


def _random_batch(seed: int, batch: int = 7, list_size: int = 9,
                  graded: bool = False):
  """Scores drawn from few values, so ties are frequent."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 3 if graded else 2, (batch, list_size))
  labels[0] = 0
  scores = rng.integers(0, 4, (batch, list_size)).astype(np.float32)
  mask = rng.random((batch, list_size)) < 0.75
  return labels, scores, mask


class HitrateTest(tf.test.TestCase, parameterized.TestCase):

  def test_hand_computed(self):
    labels = [[1, 0, 1, 0, 1],
              [0, 1, 0, 0, 1],
              [1, 0, 0, 0, 0],
              [0, 0, 0, 0, 0]]
    scores = [[0.9, 0.8, 0.1, 0.5, 0.7],
              [5.0, 5.0, 5.0, 9.0, 1.0],
              [0.0, 1.0, 2.0, 3.0, 4.0],
              [3.0, 2.0, 1.0, 0.0, 0.0]]
    mask = [[1, 1, 1, 1, 1],
            [1, 1, 1, 1, 1],
            [1, 1, 0, 0, 0],
            [1, 1, 1, 0, 0]]
    value, weight = listwise.hitrate_at_k(labels, scores, mask, k=2)
    # Row 0: top 2 = {0, 1}, 1 of 3 positives. Row 1: top 2 = {3, 0} (0 wins
    # the tie at 5.0 over 1 and 2), 0 of 2. Row 2: the padding has the high
    # scores; top 2 of the 2 valid entries holds the positive. Row 3: none.
    self.assertAllClose(value, [1 / 3, 0.0, 1.0, 0.0])
    self.assertAllEqual(weight, [1.0, 1.0, 1.0, 0.0])

  def test_ties_break_by_position(self):
    labels = [[0, 1, 0, 0], [1, 0, 0, 0]]
    scores = [[1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 2.0, 2.0]]
    mask = [[1, 1, 1, 1], [1, 1, 1, 1]]
    value, _ = listwise.hitrate_at_k(labels, scores, mask, k=1)
    self.assertAllEqual(value, [0.0, 1.0])
    value, _ = listwise.hitrate_at_k(labels, scores, mask, k=2)
    self.assertAllEqual(value, [1.0, 1.0])

  def test_k_larger_than_list(self):
    labels = [[0, 1, 0, 1], [1, 0, 0, 0]]
    scores = [[-np.inf, -1e4, 0.0, 1e4], [-5.0, 9.0, 9.0, 9.0]]
    mask = [[1, 1, 1, 1], [1, 0, 0, 0]]
    for k in (4, 100):
      value, weight = listwise.hitrate_at_k(labels, scores, mask, k=k)
      self.assertAllEqual(value, [1.0, 1.0])
      self.assertAllEqual(weight, [1.0, 1.0])

  def test_valid_entry_scored_minus_inf_ranks_before_padding(self):
    labels = [[0, 0, 1]]
    scores = [[0.0, 5.0, -np.inf]]
    value, _ = listwise.hitrate_at_k(labels, scores, [[1, 0, 1]], k=2)
    self.assertAllEqual(value, [1.0])

  def test_nan_scores_rank_after_minus_inf_and_before_padding(self):
    labels = [[1, 0, 0, 0], [1, 0, 0, 0]]
    scores = [[np.nan, 0.0, -np.inf, 1.0], [np.nan, 0.0, 5.0, np.nan]]
    mask = [[1, 1, 1, 1], [1, 1, 0, 0]]
    value, _ = listwise.hitrate_at_k(labels, scores, mask, k=3)
    self.assertAllEqual(value, [0.0, 1.0])

  @parameterized.parameters(1, 3, 5, 20)
  def test_matches_numpy(self, k):
    for seed in range(3):
      labels, scores, mask = _random_batch(seed)
      value, weight = listwise.hitrate_at_k(labels, scores, mask, k)
      expected_value, expected_weight = _np_hitrate(labels, scores, mask, k)
      self.assertAllClose(value, expected_value)
      self.assertAllEqual(weight, expected_weight)

  @parameterized.parameters(0, -1, 2.0, True)
  def test_invalid_k(self, k):
    with self.assertRaises(ValueError):
      listwise.hitrate_at_k([[1]], [[1.0]], [[1]], k)
    with self.assertRaises(ValueError):
      metrics.ListHitrate(k)


class NDCGTest(tf.test.TestCase, parameterized.TestCase):

  def test_hand_computed(self):
    labels = [[2, 0, 1], [0, 1, 0], [0, 0, 0], [1, 0, 0]]
    scores = [[1.0, 3.0, 2.0], [3.0, 3.0, 3.0], [1.0, 2.0, 3.0],
              [0.0, 9.0, 1.0]]
    mask = [[1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 0, 1]]
    value, weight = listwise.ndcg_at_k(labels, scores, mask, k=3)
    # Row 0: ranked gains (0, 1, 3), ideal (3, 1, 0). Row 1: the tie puts the
    # positive second. Row 3: the padding's high score does not count, the
    # positive ranks second of the two valid entries.
    dcg = 1 / np.log2(3) + 3 / np.log2(4)
    ideal_dcg = 3 + 1 / np.log2(3)
    self.assertAllClose(value, [dcg / ideal_dcg, 1 / np.log2(3), 0.0,
                                1 / np.log2(3)])
    self.assertAllEqual(weight, [1.0, 1.0, 0.0, 1.0])

  def test_cutoff(self):
    labels = [[0, 0, 1, 1]]
    scores = [[4.0, 3.0, 2.0, 1.0]]
    mask = [[1, 1, 1, 1]]
    value, _ = listwise.ndcg_at_k(labels, scores, mask, k=2)
    self.assertAllEqual(value, [0.0])
    value, _ = listwise.ndcg_at_k(labels, scores, mask, k=3)
    self.assertAllClose(value, [(1 / np.log2(4)) / (1 + 1 / np.log2(3))])

  @parameterized.parameters(1, 3, 10)
  def test_matches_numpy(self, k):
    for seed in range(3):
      labels, scores, mask = _random_batch(seed, graded=True)
      value, weight = listwise.ndcg_at_k(labels, scores, mask, k)
      expected_value, expected_weight = _np_ndcg(labels, scores, mask, k)
      self.assertAllClose(value, expected_value)
      self.assertAllEqual(weight, expected_weight)


def _y_true(labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
  return np.where(mask, labels, -1)


class KerasMetricTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      ("hitrate", metrics.ListHitrate, _np_hitrate, 3),
      ("ndcg", metrics.ListNDCG, _np_ndcg, 5))
  def test_accumulates_weighted_mean(self, metric_cls, np_fn, k):
    batches = [_random_batch(10, graded=True), _random_batch(11, batch=4)]
    list_weights = [np.linspace(0.5, 2.0, 7), np.array([1.0, 0.0, 3.0, 2.0])]
    metric = metric_cls(k)
    total, count = 0.0, 0.0
    for (labels, scores, mask), sample_weight in zip(batches, list_weights):
      metric.update_state(_y_true(labels, mask), scores,
                          sample_weight=sample_weight)
      value, weight = np_fn(labels, scores, mask, k)
      total += np.sum(value * weight * sample_weight)
      count += np.sum(weight * sample_weight)
    self.assertAllClose(metric.result(), total / count)
    metric.reset_state()
    self.assertEqual(float(metric.result()), 0.0)

  def test_lists_without_positives_are_excluded(self):
    metric = metrics.ListHitrate(1)
    metric.update_state([[1, 0, -1]], [[1.0, 0.0, 5.0]])
    metric.update_state([[0, 0, 0], [0, -1, -1]], [[1.0, 2.0, 3.0],
                                                   [1.0, 2.0, 3.0]])
    metric.update_state([[0, 1, 0]], [[1.0, 0.0, 5.0]])
    self.assertAllClose(metric.result(), 0.5)

  def test_positive_count_weights_give_the_micro_average(self):
    labels, scores, mask = _random_batch(12)
    metric = metrics.ListHitrate(2)
    num_positives = np.sum((labels > 0) & mask, axis=1).astype(np.float32)
    metric.update_state(_y_true(labels, mask), scores,
                        sample_weight=num_positives[:, None])
    value, _ = _np_hitrate(labels, scores, mask, 2)
    self.assertAllClose(metric.result(),
                        np.sum(value * num_positives) / np.sum(num_positives))

  @parameterized.named_parameters(
      ("hitrate", metrics.ListHitrate(k=2, name="hr")),
      ("ndcg", metrics.ListNDCG(k=4)))
  def test_serialization_round_trip(self, metric):
    labels, scores, mask = _random_batch(13, graded=True)
    restored = tf.keras.metrics.deserialize(tf.keras.metrics.serialize(metric))
    from_config = type(metric).from_config(metric.get_config())
    for other in (restored, from_config):
      self.assertIsInstance(other, type(metric))
      self.assertEqual(other.get_config(), metric.get_config())
    for m in (metric, restored, from_config):
      m.update_state(_y_true(labels, mask), scores)
    self.assertAllClose(restored.result(), metric.result())
    self.assertAllClose(from_config.result(), metric.result())

  def test_config_and_default_names(self):
    self.assertEqual(metrics.ListHitrate(100).name, "hitrate_at_100")
    self.assertEqual(metrics.ListNDCG(10).name, "ndcg_at_10")
    self.assertEqual(metrics.ListNDCG(10, name="ndcg").get_config(),
                     {"name": "ndcg", "dtype": "float32", "k": 10})

  def test_compiled_model_reports_the_metric(self):
    labels, scores, mask = _random_batch(14)
    model = tf.keras.Sequential([tf.keras.layers.Lambda(lambda x: x)])
    # Eager: tracing Keras' own step function takes ~10 s here.
    model.compile(loss="mse", metrics=[metrics.ListHitrate(3)],
                  run_eagerly=True)
    results = model.evaluate(scores, _y_true(labels, mask), batch_size=3,
                             return_dict=True, verbose=0)
    value, weight = _np_hitrate(labels, scores, mask, 3)
    self.assertAllClose(results["hitrate_at_3"],
                        np.sum(value * weight) / np.sum(weight))


  def test_graph_mode(self):
    labels, scores, mask = _random_batch(15, graded=True)
    eager, graph = metrics.ListNDCG(3), metrics.ListNDCG(3)
    eager.update_state(_y_true(labels, mask), scores)

    @tf.function
    def update(y_true, y_pred):
      graph.update_state(y_true, y_pred)

    update(tf.constant(_y_true(labels, mask)), tf.constant(scores))
    self.assertAllClose(graph.result(), eager.result())


if __name__ == "__main__":
  tf.test.main()
