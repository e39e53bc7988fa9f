"""The catalog's item embeddings, computed once at export and looked up by raw item id at serving.

The listwise stage writes every catalog item, with its attributes and train
statistics, to the `catalog` split; Transform maps them to the item tower's
ids (an item below the vocabulary's frequency threshold keeps its
out-of-vocabulary id but its own attributes and statistics). At export the
item tower embeds each of them, and serving finds an item's row by its raw
id, so an item never seen in a training list is still ranked by what it is.

Rows of the embedding table, `[1 + num_oov + num_items, dim]`:
  0                      padding ("" ids), zeros;
  1 .. num_oov           ids outside the catalog: the hashed out-of-
                         vocabulary bucket's embedding, no attributes or
                         statistics;
  1 + num_oov + k        the k-th catalog item.
"""

import dataclasses
import os
from typing import Dict, List

import numpy as np
import tensorflow as tf

from models import features as f
from models.layers import towers

CATALOG_SPLIT = f.CATALOG_SPLIT
_KEYS = tuple(f.transformed_name(k) for k in towers.ITEM_FEATURES)
# The item tower's numbers and the price the match features read.
_DENSE_KEYS = tuple(f.transformed_name(k)
                    for k in towers.ITEM_DENSE_FEATURES + (f.LOG_PRICE,))


@dataclasses.dataclass(frozen=True)
class Catalog:
  """Every catalog item: its raw id and its transformed item features.

  Attributes:
    item_ids: `[num_items]` raw ids (bytes), in catalog order.
    features: transformed ITEM_FEATURES name -> int64 `[num_items]`, and
      ITEM_DENSE_FEATURES and LOG_PRICE name -> float32 `[num_items]`.
  """
  item_ids: np.ndarray
  features: Dict[str, np.ndarray]

  def __len__(self) -> int:
    return int(self.item_ids.shape[0])

  def rows(self, num_oov: int) -> Dict[str, np.ndarray]:
    """The features as rows of the embedding table (module docstring):
    padding and out-of-vocabulary rows first, with id features 0 (their own
    hashed id for ITEM_ID) and numbers 0."""
    oov = {k: np.zeros(num_oov, v.dtype) for k, v in self.features.items()}
    oov[f.transformed_name(f.ITEM_ID)] = np.arange(1, num_oov + 1,
                                                   dtype=np.int64)
    return {k: np.concatenate([np.zeros(1, v.dtype), oov[k], v])
            for k, v in self.features.items()}


def num_oov_buckets(tf_transform_output) -> int:
  """Out-of-vocabulary ids of the item vocabulary (ids 1..num_oov)."""
  num_ids = int(tf_transform_output.num_buckets_for_transformed_feature(
      f.transformed_name(f.ITEM_ID)))
  return num_ids - 1 - tf_transform_output.vocabulary_size_by_name(
      f.ITEM_VOCAB)


def split_pattern(train_pattern: str, split: str = CATALOG_SPLIT) -> str:
  """The files of `split` (by default the catalog's) beside a train split's
  file pattern.

  TFX names an Examples artifact's split folders `<uri>/Split-<name>`; the
  Trainer's train files are `<uri>/Split-train/*`.
  """
  return os.path.join(os.path.dirname(os.path.dirname(train_pattern)),
                      f"Split-{split}", "*")


def read_catalog(batches) -> Catalog:
  """The catalog items of transformed catalog-split batches.

  Args:
    batches: an iterable of dicts of `[batch, list_size]` transformed
      features with ITEM_KEY, MASK and the ITEM_FEATURES.

  Raises:
    ValueError: no catalog item (an empty or missing catalog split).
  """
  keys: List[np.ndarray] = []
  columns: Dict[str, List[np.ndarray]] = {k: [] for k in _KEYS + _DENSE_KEYS}
  for batch in batches:
    valid = np.asarray(batch[f.transformed_name(f.MASK)]).reshape(-1) == 1
    keys.append(np.asarray(batch[f.transformed_name(f.ITEM_KEY)]
                           ).reshape(-1)[valid])
    for k in columns:
      columns[k].append(np.asarray(batch[k]).reshape(-1)[valid])
  if not keys or not sum(len(k) for k in keys):
    raise ValueError("the catalog split holds no item")
  return Catalog(np.concatenate(keys), {
      k: np.concatenate(v).astype(np.float32 if k in _DENSE_KEYS
                                  else np.int64)
      for k, v in columns.items()})


def embedding_table(item_tower: tf.keras.layers.Layer, catalog: Catalog,
                    num_oov: int, batch_size: int = 4096) -> np.ndarray:
  """The table of the module docstring, `[1 + num_oov + len(catalog), dim]`."""
  features = {k: v[1:] for k, v in catalog.rows(num_oov).items()}
  total = num_oov + len(catalog)
  rows = [item_tower({k: v[start:start + batch_size]
                      for k, v in features.items()}).numpy()
          for start in range(0, total, batch_size)]
  dim = rows[0].shape[1]
  return np.concatenate([np.zeros((1, dim), np.float32)] + rows, axis=0)


class CatalogLookup(tf.Module):
  """Raw item ids -> rows of the embedding table (module docstring)."""

  def __init__(self, item_ids: np.ndarray, num_oov: int):
    super().__init__()
    self._num_oov = num_oov
    self._table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(item_ids, tf.string),
            tf.range(1 + num_oov, 1 + num_oov + item_ids.shape[0],
                     dtype=tf.int64)),
        default_value=-1)

  def rows(self, item_ids: tf.Tensor) -> tf.Tensor:
    """int64 rows of `item_ids` (any shape): 0 for "", a catalog item's
    own row, else its hashed out-of-vocabulary row."""
    row = self._table.lookup(item_ids)
    oov = 1 + tf.strings.to_hash_bucket_fast(item_ids, self._num_oov)
    row = tf.where(row >= 0, row, oov)
    return tf.where(tf.equal(item_ids, f.PAD_STRING),
                    tf.zeros_like(row), row)
