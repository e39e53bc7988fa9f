"""Listwise ranking metrics over padded item lists: hitrate@k and NDCG@k."""

from typing import Tuple

import tensorflow as tf


def check_k(k: int) -> None:
  """Raises ValueError unless k is a positive int."""
  if isinstance(k, bool) or not isinstance(k, int) or k < 1:
    raise ValueError(f"k must be a positive int, got {k!r}")


def _sort_by_score(labels: tf.Tensor, scores: tf.Tensor,
                   mask: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
  """Labels and validity of each list in ranked order.

  Valid entries come first, by descending score; ties keep list order (the
  lower index ranks first); valid entries scored NaN come after the others,
  in list order; padding comes last.

  Args:
    labels: `[batch, list_size]`.
    scores: Float `[batch, list_size]`.
    mask: Bool `[batch, list_size]`, True for valid entries.

  Returns:
    `(labels, mask)` gathered in ranked order, each `[batch, list_size]`.
  """
  is_nan = tf.math.is_nan(scores)
  by_score = tf.argsort(
      tf.where(is_nan, tf.constant(-float("inf"), scores.dtype), scores),
      axis=1, direction="DESCENDING", stable=True)
  # 2: valid and scored, 1: valid and NaN, 0: padding.
  tier = tf.where(mask, 2 - tf.cast(is_nan, tf.int32), 0)
  tier_by_score = tf.gather(tier, by_score, batch_dims=1)
  tier_first = tf.argsort(tier_by_score, axis=1, direction="DESCENDING",
                          stable=True)
  order = tf.gather(by_score, tier_first, batch_dims=1)
  return (tf.gather(labels, order, batch_dims=1),
          tf.gather(mask, order, batch_dims=1))


def _prepare(labels: tf.Tensor, scores: tf.Tensor,
             mask: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """Returns float labels (0 on padding), float scores and a bool mask."""
  scores = tf.convert_to_tensor(scores)
  if not scores.dtype.is_floating:
    scores = tf.cast(scores, tf.float32)
  mask = tf.cast(mask, tf.bool)
  labels = tf.cast(labels, scores.dtype)
  labels = tf.where(mask, labels, tf.zeros_like(labels))
  return labels, scores, mask


def hitrate_at_k(labels: tf.Tensor, scores: tf.Tensor, mask: tf.Tensor,
                 k: int) -> Tuple[tf.Tensor, tf.Tensor]:
  """Share of each list's positives ranked in its top k valid entries.

  value = |TopK(valid) & positives| / |positives|, with positives the valid
  entries with label > 0. If k >= the number of valid entries, all of them
  are in the top k. Ties in score are broken by position: the entry with the
  lower index ranks first; NaN scores rank last. Lists without positives get
  value 0 and weight 0, so a weighted mean excludes them. (Weighting each
  list by its number of positives instead gives the micro average sum hits /
  sum positives.)

  >>> labels = tf.constant([[1, 0, 1, 0], [0, 0, 0, 0]])
  >>> scores = tf.constant([[0.1, 0.9, 0.5, 0.5], [1., 2., 3., 4.]])
  >>> mask = tf.constant([[True, True, True, True], [True, True, True, True]])
  >>> value, weight = hitrate_at_k(labels, scores, mask, k=2)
  >>> value.numpy(), weight.numpy()
  (array([0.5, 0. ], dtype=float32), array([1., 0.], dtype=float32))

  Args:
    labels: `[batch, list_size]`, positive where > 0.
    scores: Float `[batch, list_size]`, higher ranks first.
    mask: Bool or 0/1 `[batch, list_size]`, True for valid entries.
    k: Cutoff, >= 1.

  Returns:
    `(value, weight)`, each float `[batch]`.

  Raises:
    ValueError: If k is not a positive int.
  """
  check_k(k)
  labels, scores, mask = _prepare(labels, scores, mask)
  positives = tf.cast(labels > 0, scores.dtype)
  sorted_positives, _ = _sort_by_score(positives, scores, mask)
  hits = tf.reduce_sum(sorted_positives[:, :k], axis=1)
  num_positives = tf.reduce_sum(positives, axis=1)
  weight = tf.cast(num_positives > 0, scores.dtype)
  return tf.math.divide_no_nan(hits, num_positives), weight


def ndcg_at_k(labels: tf.Tensor, scores: tf.Tensor, mask: tf.Tensor,
              k: int) -> Tuple[tf.Tensor, tf.Tensor]:
  """Normalized discounted cumulative gain at k of each list.

  DCG@k = sum over the top k valid entries at rank r (1-based) of
  (2^label - 1) / log2(r + 1); NDCG@k = DCG@k / ideal DCG@k, the ideal
  ranking sorting the valid entries by label. Negative labels of valid
  entries count as 0. Ties in score are broken by position (lower index
  first); NaN scores rank last. Lists without a positive label get value 0
  and weight 0.

  >>> labels = tf.constant([[0, 1, 0]])
  >>> scores = tf.constant([[3., 2., 1.]])
  >>> mask = tf.constant([[True, True, True]])
  >>> value, weight = ndcg_at_k(labels, scores, mask, k=2)
  >>> value.numpy().round(4), weight.numpy()  # 1 / log2(3)
  (array([0.6309], dtype=float32), array([1.], dtype=float32))

  Arguments, result and errors are those of `hitrate_at_k`, with graded
  `labels` (0/1 for binary).
  """
  check_k(k)
  labels, scores, mask = _prepare(labels, scores, mask)
  gains = tf.pow(tf.constant(2, scores.dtype), tf.maximum(labels, 0)) - 1
  sorted_gains, _ = _sort_by_score(gains, scores, mask)
  sorted_gains = sorted_gains[:, :k]
  ideal_gains = tf.sort(gains, axis=1, direction="DESCENDING")[:, :k]
  ranks = tf.range(1, tf.shape(sorted_gains)[1] + 1)
  discounts = 1 / (tf.math.log(tf.cast(ranks, scores.dtype) + 1) /
                   tf.math.log(tf.constant(2, scores.dtype)))
  dcg = tf.reduce_sum(sorted_gains * discounts, axis=1)
  ideal_dcg = tf.reduce_sum(ideal_gains * discounts, axis=1)
  weight = tf.cast(ideal_dcg > 0, scores.dtype)
  return tf.math.divide_no_nan(dcg, ideal_dcg), weight
