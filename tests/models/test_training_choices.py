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


def test_hparams_refuse_an_unknown_checkpoint_metric():
  with pytest.raises(ValueError, match="checkpoint_metric must be one of"):
    hparams_lib.HParams(checkpoint_metric="accuracy")
  with pytest.raises(ValueError, match="dropout"):
    hparams_lib.HParams(dropout=1.0)


def _catalog(num_items=5, seed=0):
  rng = np.random.default_rng(seed)
  mask = np.ones((1, num_items), np.int64)
  features = batches.tower_features(rng, mask)
  keys = [f.transformed_name(k) for k in towers.ITEM_FEATURES
          + towers.ITEM_DENSE_FEATURES]
  return catalog_lib.Catalog(
      np.array([f"item{k}".encode() for k in range(num_items)], object),
      {k: features[k].reshape(-1) for k in keys})


def test_read_catalog_keeps_valid_entries_in_order():
  x = f.transformed_name
  batch = {x(f.ITEM_KEY): np.array([[b"a", b"b", b""], [b"c", b"", b""]]),
           x(f.MASK): np.array([[1, 1, 0], [1, 0, 0]])}
  for key in towers.ITEM_FEATURES:
    batch[x(key)] = np.array([[1, 2, 0], [3, 0, 0]])
  for key in towers.ITEM_DENSE_FEATURES:
    batch[x(key)] = np.array([[0.5, 1.5, 0], [2.5, 0, 0]], np.float32)
  got = catalog_lib.read_catalog([batch])
  assert got.item_ids.tolist() == [b"a", b"b", b"c"]
  assert got.features[x(f.BRAND)].tolist() == [1, 2, 3]
  assert got.features[x(f.CTR_SCORE)].dtype == np.float32
  with pytest.raises(ValueError, match="holds no item"):
    catalog_lib.read_catalog([])


def test_embedding_table_rows_and_lookup_by_raw_id():
  tf.keras.utils.set_random_seed(1)
  tower = towers.ItemTower(batches.VOCAB, feature_dim=4, hidden_dim=8,
                           embedding_dim=3)
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
