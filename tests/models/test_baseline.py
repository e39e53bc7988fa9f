"""Tests of the TFRS retrieval baseline: click pairs, in-batch softmax loss, training, scores."""

import numpy as np
import pytest
import tensorflow as tf

from models import baseline
from models import features as f
from models import hparams as hparams_lib
from models.layers import towers
from testing import batches

VOCAB = towers.VocabSizes(**batches.VOCAB)
HPARAMS = hparams_lib.HParams(feature_dim=8, hidden_dim=16, embedding_dim=6,
                              temperature=0.5, learning_rate=0.05)
x = f.transformed_name

# 3 lists of 4 entries. List 0 clicks positions 1 and 3, but 3 is padding;
# list 1 clicks positions 0 and 2; list 2 has no click.
MASK = np.array([[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0]])
CLICK = np.array([[0, 1, 0, 1], [1, 0, 1, 0], [0, 0, 0, 0]])
# The (list, position) of each pair, in order.
PAIRS = ([0, 1, 1], [1, 0, 2])


def _batch():
  """A transformed listwise batch with every id inside VOCAB."""
  return {
      x(f.USER_ID): np.array([4, 5, 6]),
      x(f.GENDER): np.array([[1], [2], [3]]),
      x(f.AGE_BUCKET): np.array([0, 3, 7]),
      x(f.PURCHASE_POWER): np.array([2, 0, 5]),
      x(f.QUERY_TOKENS): np.array([[1, 2, 0], [3, 0, 0], [4, 5, 6]]),
      x(f.USER_HISTORY): np.array([[7, 8], [9, 0], [10, 11]]),
      x(f.ITEM_ID): np.array([[1, 2, 3, 0], [4, 5, 6, 7], [8, 9, 0, 0]]),
      x(f.CATEGORY): np.array([[1, 2, 3, 0], [4, 1, 2, 3], [4, 1, 0, 0]]),
      x(f.BRAND): np.array([[5, 4, 3, 0], [2, 1, 5, 4], [3, 2, 0, 0]]),
      x(f.PRICE_BUCKET): np.array([[1, 2, 3, 0], [3, 2, 1, 1], [2, 3, 0, 0]]),
      x(f.EXPOSURE_BUCKET): np.array([[1, 4, 3, 0], [2, 2, 1, 1],
                                      [3, 1, 0, 0]]),
      x(f.CTR_BUCKET): np.array([[1, 2, 2, 0], [2, 1, 1, 2], [1, 1, 0, 0]]),
      x(f.CVR_BUCKET): np.array([[3, 2, 1, 0], [1, 1, 3, 2], [2, 3, 0, 0]]),
      **{x(k): np.arange(12, dtype=np.float32).reshape(3, 4) / (j + 2)
         for j, k in enumerate(towers.ITEM_DENSE_FEATURES)},
      x(f.MASK): MASK,
      x(f.LABEL_CLICK): CLICK,
      x(f.LABEL_EXPOSURE): MASK,
  }


def _random_batch(batch=16, list_size=6, seed=0):
  """A larger batch with about two valid clicks per list."""
  rng = np.random.default_rng(seed)
  mask = (np.arange(list_size) < rng.integers(2, list_size + 1, batch)[:, None]
          ).astype(np.int64)
  return {
      **batches.tower_features(rng, mask, num_tokens=3, history_length=4),
      x(f.MASK): mask,
      x(f.LABEL_CLICK): (rng.random((batch, list_size)) < 0.35) * mask,
  }


def test_click_pairs_repeat_the_query_per_valid_click():
  queries, items = baseline.click_pairs(_batch())
  assert set(queries) == set(baseline.QUERY_FEATURES)
  assert set(items) == set(baseline.ITEM_FEATURES)
  # Pairs (list 0, pos 1), (list 1, pos 0), (list 1, pos 2).
  expected_queries = {
      x(f.USER_ID): [4, 5, 5],
      x(f.GENDER): [[1], [2], [2]],
      x(f.AGE_BUCKET): [0, 3, 3],
      x(f.PURCHASE_POWER): [2, 0, 0],
      x(f.QUERY_TOKENS): [[1, 2, 0], [3, 0, 0], [3, 0, 0]],
      x(f.USER_HISTORY): [[7, 8], [9, 0], [9, 0]],
  }
  expected_items = {
      x(f.ITEM_ID): [2, 4, 6],
      x(f.CATEGORY): [2, 4, 2],
      x(f.BRAND): [4, 2, 5],
      x(f.PRICE_BUCKET): [2, 3, 1],
      x(f.EXPOSURE_BUCKET): [4, 2, 1],
      x(f.CTR_BUCKET): [2, 2, 1],
      x(f.CVR_BUCKET): [2, 1, 3],
      **{x(k): np.array([1, 4, 6], np.float32) / (j + 2)
         for j, k in enumerate(towers.ITEM_DENSE_FEATURES)},
  }
  for key, value in expected_queries.items():
    np.testing.assert_array_equal(queries[key].numpy(), value, err_msg=key)
  for key, value in expected_items.items():
    np.testing.assert_array_equal(items[key].numpy(), value, err_msg=key)


def test_click_pairs_of_a_batch_without_clicks_are_empty():
  batch = _batch()
  batch[x(f.LABEL_CLICK)] = np.zeros_like(CLICK)
  queries, items = baseline.click_pairs(batch)
  assert queries[x(f.QUERY_TOKENS)].shape == (0, 3)
  assert items[x(f.ITEM_ID)].shape == (0,)


def _softmax_loss(logits):
  """Sum over rows of -log softmax(row)[diagonal], in NumPy."""
  logits = logits - logits.max(axis=1, keepdims=True)
  log_norm = np.log(np.exp(logits).sum(axis=1))
  return float(np.sum(log_norm - np.diag(logits)))


def test_loss_is_the_in_batch_softmax_of_the_tower_outputs():
  tf.keras.utils.set_random_seed(0)
  model = baseline.RetrievalBaseline(VOCAB, HPARAMS)
  batch = _batch()
  q = model.query_tower(batch).numpy()
  i = model.item_tower(batch).numpy()
  rows, cols = PAIRS
  logits = q[rows] @ i[rows, cols].T / HPARAMS.temperature
  expected = _softmax_loss(logits)
  assert float(model.compute_loss(batch)) == pytest.approx(expected,
                                                           rel=1e-5)
  np.testing.assert_allclose(
      model(batch).numpy(),
      np.einsum("bd,bnd->bn", q, i) / HPARAMS.temperature, rtol=1e-5)


@pytest.mark.parametrize("graph", [False, True])
def test_loss_of_a_batch_without_clicks_is_zero(graph):
  model = baseline.RetrievalBaseline(VOCAB, HPARAMS)
  batch = _batch()
  batch[x(f.LABEL_CLICK)] = np.zeros_like(CLICK)
  loss = tf.function(model.compute_loss) if graph else model.compute_loss
  assert float(loss(batch)) == 0.0


def test_a_few_fit_steps_lower_the_loss():
  tf.keras.utils.set_random_seed(1)
  model = baseline.RetrievalBaseline(VOCAB, HPARAMS)
  model.compile(optimizer=tf.keras.optimizers.Adam(HPARAMS.learning_rate))
  batches = [_random_batch(seed=s) for s in range(3)]
  before = np.mean([float(model.compute_loss(b)) for b in batches])
  data = tf.data.Dataset.from_tensor_slices(
      {k: np.stack([b[k] for b in batches]) for k in batches[0]}).repeat()
  model.fit(data, steps_per_epoch=30, epochs=1, verbose=0)
  after = np.mean([float(model.compute_loss(b)) for b in batches])
  assert np.isfinite(before) and after < 0.8 * before
