"""The checkpoint choice, the catalog's embeddings and lookup, and the Tuner's search space, against hand-computed values."""

import math

import numpy as np
import pytest
import tensorflow as tf

from models import best_checkpoint
from models import catalog as catalog_lib
from models import features as f
from models import hparams as hparams_lib
from models import tuner
from models.layers import towers
from testing import batches


def _fit_with(values, monitor):
  """Runs BestCheckpoint over epochs whose monitored values are `values`.

  The model's single weight is set to the epoch number before each epoch
  ends, so the restored weight names the chosen epoch.
  """
  model = tf.keras.Sequential([tf.keras.layers.Dense(1, use_bias=False)])
  model.build((None, 1))
  callback = best_checkpoint.BestCheckpoint(steps_per_epoch=50,
                                            monitor=monitor)
  callback.set_model(model)
  for epoch, value in enumerate(values):
    model.set_weights([np.array([[float(epoch)]])])
    callback.on_epoch_end(epoch, {monitor: value})
  model.set_weights([np.array([[-1.0]])])
  return callback, model


def test_lowest_loss_wins_and_is_restored():
  callback, model = _fit_with([3.0, 2.0, 2.5, 2.0, 4.0], "val_loss")
  assert (callback.best_step, callback.best_value) == (100, 2.0)  # first 2.0
  assert callback.history == [(50, 3.0), (100, 2.0), (150, 2.5),
                              (200, 2.0), (250, 4.0)]
  callback.restore()
  assert model.get_weights()[0][0, 0] == 1.0  # epoch 1


def test_highest_ranking_metric_wins_and_nan_never_does():
  callback, model = _fit_with([0.2, math.nan, 0.5, 0.4],
                              "val_purchase_ndcg_at_10")
  assert (callback.best_step, callback.best_value) == (150, 0.5)
  callback.restore()
  assert model.get_weights()[0][0, 0] == 2.0
  diverged, _ = _fit_with([math.nan, math.nan], "val_loss")
  with pytest.raises(RuntimeError, match="no checkpoint had a val_loss"):
    diverged.restore()


class _ScoreIsPrice(tf.keras.Model):
  """A stand-in model: a candidate's score is its log price."""

  def call(self, inputs, training=False):
    return tf.cast(inputs[f.transformed_name(f.LOG_PRICE)], tf.float32)


def test_candidate_hitrate_scores_every_chunk_and_groups_by_request():
  x = f.transformed_name
  # Request r1's set is split over two chunks (6 candidates, 5% -> K 1);
  # r2's fits in one (3 candidates, K 1). r1 buys its best (chunk 2) and a
  # poor one, r2 its second: 1 of 3 purchases in the top 1.
  chunks = {
      x(f.REQUEST_ID): np.array([b"r1", b"r2", b"r1"]),
      x(f.LOG_PRICE): np.array([[0.1, 0.5, 0.2, 0.0], [0.9, 0.8, 0.1, 0.0],
                                [0.3, 0.7, 0.4, 0.0]], np.float32),
      x(f.LABEL_PURCHASE): np.array([[1, 0, 0, 0], [0, 1, 0, 0],
                                     [0, 1, 0, 0]]),
      x(f.MASK): np.array([[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 0]]),
  }
  # The padding entry of a chunk is never a candidate, whatever its score.
  chunks[x(f.LOG_PRICE)][0, 3] = 99.0
  callback = best_checkpoint.CandidateHitrate(
      lambda: [{k: tf.constant(v[:2]) for k, v in chunks.items()},
               {k: tf.constant(v[2:]) for k, v in chunks.items()}], "5%")
  callback.set_model(_ScoreIsPrice())
  logs = {}
  callback.on_epoch_end(0, logs)
  assert logs == {best_checkpoint.CANDIDATE_HITRATE_LOG: pytest.approx(
      1 / 3), best_checkpoint.TOWER_WEIGHT_LOG: 1.0}
  # K = 2: r1's top 2 are 0.7 (bought) and 0.5; r2's 0.9 and 0.8 (bought).
  callback = best_checkpoint.CandidateHitrate(
      lambda: [{k: tf.constant(v) for k, v in chunks.items()}], "2")
  callback.set_model(_ScoreIsPrice())
  assert callback.hitrate() == pytest.approx(2 / 3)


class _TwoParts(tf.keras.Model):
  """A stand-in model with a head: its towers score the log price, its head
  the fine score; the score is tower_weight * towers + head."""

  def __init__(self):
    super().__init__()
    self.head = _Weighted()

  def score_parts(self, inputs):
    x = lambda key: tf.cast(inputs[f.transformed_name(key)], tf.float32)
    return x(f.LOG_PRICE), x(f.FINE_SCORE)

  def call(self, inputs, training=False):
    return self.head.combine(*self.score_parts(inputs))


class _Weighted(tf.Module):

  def __init__(self):
    super().__init__()
    self.tower_weight = tf.Variable(1.0, trainable=False)

  def combine(self, two_tower, head):
    return self.tower_weight * two_tower + head


def test_the_towers_weight_is_chosen_on_the_candidate_sets():
  x = f.transformed_name
  # One request of 8 candidates (5% -> K 1) that buys entry 3: the towers
  # rank entry 0 first (3.5 against 2), the head entry 3 (1 against 0), so
  # entry 3 comes first only while the towers weigh at most 0.5 (at 1:
  # 3.5 > 2 + 1; at 0.5: 1.75 < 1 + 1).
  chunk = {x(f.REQUEST_ID): np.array([b"r1"]),
           x(f.LOG_PRICE): np.array([[3.5, 0, 0, 2.0, 0, 0, 0, 0]],
                                    np.float32),
           x(f.FINE_SCORE): np.array([[0.0, 0, 0, 1.0, 0, 0, 0, 0]],
                                     np.float32),
           x(f.LABEL_PURCHASE): np.array([[0, 0, 0, 1, 0, 0, 0, 0]]),
           x(f.MASK): np.ones((1, 8), np.int64)}
  callback = best_checkpoint.CandidateHitrate(
      lambda: [{k: tf.constant(v) for k, v in chunk.items()}], "5%")
  model = _TwoParts()
  callback.set_model(model)
  assert callback.hitrates() == {1.0: 0.0, 0.5: 1.0, 0.25: 1.0, 0.0: 1.0}
  logs = {}
  callback.on_epoch_end(0, logs)
  # Ties go to the larger weight.
  assert logs[best_checkpoint.TOWER_WEIGHT_LOG] == 0.5
  assert logs[best_checkpoint.CANDIDATE_HITRATE_LOG] == 1.0
  assert callback.hitrate() == 0.0  # As the model scores now (weight 1).
  model.head.tower_weight.assign(0.5)
  assert callback.hitrate() == 1.0


def test_hparams_refuse_an_unknown_checkpoint_metric():
  with pytest.raises(ValueError, match="checkpoint_metric must be one of"):
    hparams_lib.HParams(checkpoint_metric="accuracy")
  with pytest.raises(ValueError, match="dropout"):
    hparams_lib.HParams(dropout=1.0)
  with pytest.raises(ValueError, match="id_dropout"):
    hparams_lib.HParams(id_dropout=-0.1)
  with pytest.raises(ValueError, match="teacher_transform must be one of"):
    hparams_lib.HParams(teacher_transform="softmax")


def _catalog(num_items=5, seed=0):
  rng = np.random.default_rng(seed)
  mask = np.ones((1, num_items), np.int64)
  features = batches.tower_features(rng, mask)
  keys = [f.transformed_name(k) for k in towers.ITEM_FEATURES
          + towers.ITEM_DENSE_FEATURES + (f.LOG_PRICE,)]
  return catalog_lib.Catalog(
      np.array([f"item{k}".encode() for k in range(num_items)], object),
      {k: features[k].reshape(-1) for k in keys})


def test_read_catalog_keeps_valid_entries_in_order():
  x = f.transformed_name
  batch = {x(f.ITEM_KEY): np.array([[b"a", b"b", b""], [b"c", b"", b""]]),
           x(f.MASK): np.array([[1, 1, 0], [1, 0, 0]])}
  for key in towers.ITEM_FEATURES:
    batch[x(key)] = np.array([[1, 2, 0], [3, 0, 0]])
  for key in towers.ITEM_DENSE_FEATURES + (f.LOG_PRICE,):
    batch[x(key)] = np.array([[0.5, 1.5, 0], [2.5, 0, 0]], np.float32)
  got = catalog_lib.read_catalog([batch])
  assert got.features[x(f.LOG_PRICE)].tolist() == [0.5, 1.5, 2.5]
  assert got.item_ids.tolist() == [b"a", b"b", b"c"]
  assert got.features[x(f.BRAND)].tolist() == [1, 2, 3]
  assert got.features[x(f.CTR_SCORE)].dtype == np.float32
  with pytest.raises(ValueError, match="holds no item"):
    catalog_lib.read_catalog([])


def test_embedding_table_rows_and_lookup_by_raw_id():
  tf.keras.utils.set_random_seed(1)
  tower = towers.ItemTower(batches.VOCAB, feature_dim=4, hidden_dim=8,
                           embedding_dim=3, embedding_l2=0.0, dropout=0.0,
                           id_dropout=0.0)
  items = _catalog()
  num_oov = 2
  table = catalog_lib.embedding_table(tower, items, num_oov, batch_size=3)
  assert table.shape == (1 + num_oov + 5, 3)
  np.testing.assert_array_equal(table[0], 0.0)  # padding
  # Catalog rows are the tower's embedding of each item's own features.
  np.testing.assert_allclose(table[1 + num_oov:],
                             tower(items.features).numpy(), rtol=1e-5)
  # Out-of-vocabulary rows: the OOV id alone, no attributes or statistics.
  oov = {k: np.zeros(num_oov, v.dtype) for k, v in items.features.items()}
  oov[f.transformed_name(f.ITEM_ID)] = np.array([1, 2])
  np.testing.assert_allclose(table[1:1 + num_oov], tower(oov).numpy(),
                             rtol=1e-5)

  lookup = catalog_lib.CatalogLookup(items.item_ids, num_oov)
  ids = tf.constant([["item3", "", "stranger", "item0"]])
  rows = lookup.rows(ids).numpy()[0]
  assert rows[0] == 1 + num_oov + 3 and rows[3] == 1 + num_oov
  assert rows[1] == 0
  expected = 1 + tf.strings.to_hash_bucket_fast("stranger", num_oov).numpy()
  assert rows[2] == expected


def test_split_pattern_is_beside_the_train_split():
  assert catalog_lib.split_pattern("/a/Transform/x/7/Split-train/*") == (
      "/a/Transform/x/7/Split-catalog/*")


def test_search_space_values_apply_to_hparams_and_nothing_else():
  space = tuner.search_space()
  assert {p.name for p in space.space} == set(tuner.SEARCH_SPACE)
  for p in space.space:
    assert list(p.values) == list(tuner.SEARCH_SPACE[p.name])
  base = hparams_lib.HParams(batch_size=32)
  tuned = tuner.apply(base, {"learning_rate": 0.01, "dropout": 0.2})
  assert (tuned.learning_rate, tuned.dropout, tuned.batch_size) == (
      0.01, 0.2, 32)
  config = space.get_config()
  assert tuner.values_of(config) == {
      name: values[0] for name, values in tuner.SEARCH_SPACE.items()}
  with pytest.raises(ValueError, match="outside the search space"):
    tuner.apply(base, {"batch_size": 8})
