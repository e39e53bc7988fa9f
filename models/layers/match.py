"""Query-item match and user-item fit from counts of the train split: features of a candidate given the request.

What carries from one set of logs to another is not an id's embedding but
which categories and brands a query's words lead to, how an item fits what
the user bought before, and how much it sells. `MatchTables` counts the
first over the train lists (NumPy, once, before training); `QueryItemMatch`
turns a request into per-request profiles over every category and brand id,
then reads a candidate's features from them:

  category_lift, brand_lift: mean over the query's distinct tokens t of
    log((n(t, v) + 1) / (n(t) + V)) + log V, v the candidate's category
    (brand), n(t, v) the train lists' positives (clicked or bought entries)
    of value v in lists whose query has token t, n(t) all of them, V the
    number of known values: the add-one smoothed share of v, as a lift over
    the uniform share (0 for a query with no known token).
  history_category_share, history_brand_share: share of the user's history
    items (those with known attributes) of the candidate's category (brand).
  price_gap: |log(1 + price) - mean of the history items' log(1 + price)|,
    0 without a priced history item.
  has_history: 1 when the history has an item with known attributes.
  query_support: log(1 + mean n(t)) over the query's distinct tokens.

A train list's own positives are in the counts; for such a list
(`in_train_counts` 1) they are left out of n(t, v) and n(t) (leave one out),
so no label is a feature of itself. Serving, validation and evaluation
requests are not in the counts and see them whole. Every id is a Transform
id (features.PAD_ID 0 for padding, then out-of-vocabulary ids, then known
values), the same in training and at serving.
"""

import dataclasses
from typing import Dict, Iterable, Mapping, NamedTuple, Tuple

import numpy as np
import tensorflow as tf

from models import features as f

FEATURES = ("category_lift", "brand_lift", "history_category_share",
            "history_brand_share", "price_gap", "has_history",
            "query_support")
NUM_FEATURES = len(FEATURES)
_KINDS = ("category", "brand")


def _xf(inputs: Mapping[str, tf.Tensor], key: str) -> tf.Tensor:
  return inputs[f.transformed_name(key)]


@dataclasses.dataclass(frozen=True)
class CountRows:
  """Sparse counts n(t, v) by token id, in compressed rows.

  Attributes:
    row_splits: int64 `[num_token_ids + 1]`; token t's entries are
      `[row_splits[t], row_splits[t + 1])`.
    values: int64 `[nnz]`, the value id (category or brand) of each entry.
    counts: float32 `[nnz]`, n(t, v) > 0.
  """
  row_splits: np.ndarray
  values: np.ndarray
  counts: np.ndarray

  @classmethod
  def from_dense_pairs(cls, tokens: np.ndarray, values: np.ndarray,
                       counts: np.ndarray, num_token_ids: int) -> "CountRows":
    order = np.lexsort((values, tokens))
    tokens, values, counts = tokens[order], values[order], counts[order]
    splits = np.searchsorted(tokens, np.arange(num_token_ids + 1))
    return cls(splits.astype(np.int64), values.astype(np.int64),
               counts.astype(np.float32))

  def dense(self, num_values: int) -> np.ndarray:
    """n as a dense `[num_token_ids, num_values]` array (for tests)."""
    out = np.zeros((self.row_splits.shape[0] - 1, num_values), np.float32)
    rows = np.repeat(np.arange(out.shape[0]), np.diff(self.row_splits))
    out[rows, self.values] = self.counts
    return out


@dataclasses.dataclass(frozen=True)
class MatchTables:
  """The counts and item attributes `QueryItemMatch` reads.

  Attributes:
    category, brand: n(t, v) per token id (CountRows).
    token_positives: float32 `[num_token_ids]`, n(t).
    num_categories, num_brands: known values V (at least 1).
    num_category_ids, num_brand_ids: the id spaces (padding, out-of-
      vocabulary and known ids).
    item_category, item_brand: int64 `[num_item_ids]`, the attributes of
      each item id (PAD_ID where unknown: padding and out-of-vocabulary
      ids).
    item_log_price: float32 `[num_item_ids]`, log(1 + price), 0 unknown.
  """
  category: CountRows
  brand: CountRows
  token_positives: np.ndarray
  num_categories: int
  num_brands: int
  num_category_ids: int
  num_brand_ids: int
  item_category: np.ndarray
  item_brand: np.ndarray
  item_log_price: np.ndarray


def distinct_tokens(tokens: np.ndarray) -> np.ndarray:
  """bool `[batch, num_tokens]`: the first occurrence of each non-padding
  token id of a row."""
  tokens = np.asarray(tokens)
  first = np.ones(tokens.shape, bool)
  for t in range(1, tokens.shape[1]):
    first[:, t] = ~(tokens[:, :t] == tokens[:, t:t + 1]).any(axis=1)
  return first & (tokens != f.PAD_ID)


def list_positives(batch: Mapping[str, np.ndarray]) -> np.ndarray:
  """bool `[batch, list_size]`: the entries the counts count (valid and
  clicked, bought included)."""
  return ((np.asarray(_xf(batch, f.MASK)) == 1)
          & (np.asarray(_xf(batch, f.LABEL_CLICK)) == 1))


def count_tables(batches: Iterable[Mapping[str, np.ndarray]],
                 num_token_ids: int, num_category_ids: int,
                 num_brand_ids: int, num_categories: int, num_brands: int,
                 item_attributes: Mapping[str, np.ndarray]) -> MatchTables:
  """Counts n(t, v) and n(t) over transformed train batches.

  Args:
    batches: transformed train lists: `query_tokens` `[batch, T]`,
      `category`, `brand`, `label_click` and `mask` `[batch, list_size]`.
    num_token_ids, num_category_ids, num_brand_ids: id-space sizes (pad and
      out-of-vocabulary ids included).
    num_categories, num_brands: known values V (the vocabularies' sizes).
    item_attributes: MatchTables' `item_*` arrays over item ids.
  """
  sizes = {"category": num_category_ids, "brand": num_brand_ids}
  keys = {kind: [] for kind in _KINDS}
  token_positives = np.zeros(num_token_ids, np.float64)
  for batch in batches:
    tokens = np.asarray(_xf(batch, f.QUERY_TOKENS))
    distinct = distinct_tokens(tokens)
    positive = list_positives(batch)
    rows, cols = np.nonzero(distinct)
    np.add.at(token_positives, tokens[rows, cols],
              positive.sum(axis=1)[rows])
    # Every (distinct token of a list, positive entry of the same list).
    lists, token_at, entry_at = np.nonzero(distinct[:, :, None]
                                           & positive[:, None, :])
    for kind, key in zip(_KINDS, (f.CATEGORY, f.BRAND)):
      values = np.asarray(_xf(batch, key))[lists, entry_at]
      keys[kind].append(tokens[lists, token_at].astype(np.int64)
                        * sizes[kind] + values)
  rows = {}
  for kind in _KINDS:
    unique, counts = np.unique(np.concatenate(keys[kind] or [
        np.zeros(0, np.int64)]), return_counts=True)
    rows[kind] = CountRows.from_dense_pairs(
        unique // sizes[kind], unique % sizes[kind], counts, num_token_ids)
  return MatchTables(
      category=rows["category"], brand=rows["brand"],
      token_positives=token_positives.astype(np.float32),
      num_categories=max(1, num_categories), num_brands=max(1, num_brands),
      num_category_ids=num_category_ids, num_brand_ids=num_brand_ids,
      **item_attributes)


def item_attributes(item_ids: np.ndarray, categories: np.ndarray,
                    brands: np.ndarray, log_prices: np.ndarray,
                    num_item_ids: int, num_oov_buckets: int
                    ) -> Dict[str, np.ndarray]:
  """MatchTables' `item_*` arrays from the catalog's transformed items.

  Items with a known id (above the padding and out-of-vocabulary ids) give
  their attributes; every other id keeps PAD_ID and price 0.
  """
  known = np.asarray(item_ids) > num_oov_buckets
  ids = np.asarray(item_ids)[known]
  out = {"item_category": np.zeros(num_item_ids, np.int64),
         "item_brand": np.zeros(num_item_ids, np.int64),
         "item_log_price": np.zeros(num_item_ids, np.float32)}
  out["item_category"][ids] = np.asarray(categories)[known]
  out["item_brand"][ids] = np.asarray(brands)[known]
  out["item_log_price"][ids] = np.asarray(log_prices)[known]
  return out


class Profiles(NamedTuple):
  """A batch of requests' features of every category and brand id.

  category, history_category: `[batch, num_category_ids]`; brand,
  history_brand: `[batch, num_brand_ids]`; history_log_price, has_history,
  query_support: `[batch]`.
  """
  category: tf.Tensor
  brand: tf.Tensor
  history_category: tf.Tensor
  history_brand: tf.Tensor
  history_log_price: tf.Tensor
  has_history: tf.Tensor
  query_support: tf.Tensor


def _segment_rows(values: tf.Tensor, rows: tf.Tensor, columns: tf.Tensor,
                  num_rows: tf.Tensor, num_columns: int) -> tf.Tensor:
  """Σ of `values` at (rows, columns), as a dense `[num_rows, num_columns]`."""
  flat = tf.math.unsorted_segment_sum(
      values, rows * num_columns + columns, num_rows * num_columns)
  return tf.reshape(flat, [num_rows, num_columns])


@tf.keras.utils.register_keras_serializable(package="coarse_rank")
class QueryItemMatch(tf.keras.layers.Layer):
  """The features of the module docstring, from a MatchTables.

  The tables are non-trainable variables of the layer, saved with the model
  and read at serving without any file.

  Call `profiles(inputs)` once per batch of requests, then `features` for
  any candidates, e.g. a list's `[batch, list_size]` or a set of items
  `[num_items]` against every request of the batch.
  """

  def __init__(self, tables: MatchTables, **kwargs):
    super().__init__(trainable=False, **kwargs)
    self.built = True  # Its variables are made here; it has no call().
    constant = lambda value, name: tf.Variable(value, trainable=False,
                                               name=name)
    self._rows = {}
    for kind in _KINDS:
      rows = getattr(tables, kind)
      self._rows[kind] = (constant(rows.row_splits, f"{kind}_row_splits"),
                          constant(rows.values, f"{kind}_values"),
                          constant(rows.counts, f"{kind}_counts"))
    self._token_positives = constant(tables.token_positives,
                                     "token_positives")
    self._known = {"category": float(tables.num_categories),
                   "brand": float(tables.num_brands)}
    self._item = {"category": constant(tables.item_category, "item_category"),
                  "brand": constant(tables.item_brand, "item_brand")}
    self._item_log_price = constant(tables.item_log_price, "item_log_price")
    self._num_ids = {"category": tables.num_category_ids,
                     "brand": tables.num_brand_ids}

  def _sizes(self, kind: str) -> int:
    return self._num_ids[kind]

  def _own(self, inputs: Mapping[str, tf.Tensor], batch: tf.Tensor
           ) -> Dict[str, tf.Tensor]:
    """Each train list's own positives per value id, and in all ("total")."""
    key = f.transformed_name(f.IN_TRAIN_COUNTS)
    label = f.transformed_name(f.LABEL_CLICK)
    if key not in inputs or label not in inputs:
      zeros = {kind: tf.zeros([batch, self._sizes(kind)]) for kind in _KINDS}
      return {**zeros, "total": tf.zeros([batch])}
    in_counts = tf.cast(tf.reshape(inputs[key], [-1]), tf.float32)
    positive = tf.cast(
        tf.equal(_xf(inputs, f.MASK), 1) & tf.equal(inputs[label], 1),
        tf.float32) * in_counts[:, None]
    rows = tf.broadcast_to(tf.range(batch, dtype=tf.int64)[:, None],
                           tf.shape(positive, out_type=tf.int64))
    out = {"total": tf.reduce_sum(positive, axis=1)}
    for kind, key in zip(_KINDS, (f.CATEGORY, f.BRAND)):
      out[kind] = _segment_rows(tf.reshape(positive, [-1]),
                                tf.reshape(rows, [-1]),
                                tf.reshape(_xf(inputs, key), [-1]),
                                batch, self._sizes(kind))
    return out

  def _query_lift(self, kind: str, tokens: tf.Tensor, distinct: tf.Tensor,
                  total: tf.Tensor, own: tf.Tensor) -> tf.Tensor:
    """`[batch, num_ids]` lift of every value id for the queries."""
    batch = tf.shape(tokens, out_type=tf.int64)[0]
    size = self._sizes(kind)
    known = self._known[kind]
    splits, values, counts = self._rows[kind]
    where = tf.where(distinct)
    token = tf.gather_nd(tokens, where)
    positions = tf.ragged.range(tf.gather(splits, token),
                                tf.gather(splits, token + 1))
    owner = tf.gather(where[:, 0], positions.value_rowids())
    value = tf.gather(values, positions.flat_values)
    count = tf.gather(counts, positions.flat_values)
    own_count = tf.gather_nd(own, tf.stack([owner, value], axis=1))
    shares = _segment_rows(tf.math.log1p(count - own_count), owner, value,
                           batch, size)
    weight = tf.cast(distinct, tf.float32)
    base = tf.reduce_sum(weight * -tf.math.log(total + known), axis=1)
    num_tokens = tf.reduce_sum(weight, axis=1)
    mean = (base[:, None] + shares) / tf.maximum(num_tokens, 1.0)[:, None]
    return tf.where(num_tokens[:, None] > 0, mean + tf.math.log(known), 0.0)

  def profiles(self, inputs: Mapping[str, tf.Tensor]) -> Profiles:
    """Profiles of a batch of transformed requests.

    Args:
      inputs: `query_tokens` `[batch, T]`, `user_history` `[batch, H]`;
        for a list batch also `in_train_counts` `[batch]` and `category`,
        `brand`, `label_click`, `mask` `[batch, list_size]` (without them
        nothing is left out, as at serving).
    """
    tokens = tf.cast(_xf(inputs, f.QUERY_TOKENS), tf.int64)
    batch = tf.shape(tokens, out_type=tf.int64)[0]
    # repeated[b, t]: token t of request b is also at an earlier position.
    same = tf.equal(tokens[:, :, None], tokens[:, None, :])
    length = tf.shape(tokens)[1]
    earlier = tf.cast(
        tf.linalg.band_part(tf.ones([length, length], tf.int32), -1, 0)
        - tf.eye(length, dtype=tf.int32), tf.bool)
    repeated = tf.reduce_any(same & earlier[None], axis=2)
    distinct = tf.not_equal(tokens, f.PAD_ID) & tf.logical_not(repeated)
    own = self._own(inputs, batch)
    total = tf.gather(self._token_positives, tokens) - own["total"][:, None]
    lift = {kind: self._query_lift(kind, tokens, distinct, total, own[kind])
            for kind in _KINDS}
    weight = tf.cast(distinct, tf.float32)
    num_tokens = tf.maximum(tf.reduce_sum(weight, axis=1), 1.0)
    support = tf.math.log1p(tf.reduce_sum(weight * total, axis=1)
                            / num_tokens)

    history = tf.cast(_xf(inputs, f.USER_HISTORY), tf.int64)
    attribute = {kind: tf.gather(self._item[kind], history)
                 for kind in _KINDS}
    known = tf.not_equal(history, f.PAD_ID) & tf.not_equal(
        attribute["category"], f.PAD_ID)
    weight = tf.cast(known, tf.float32)
    count = tf.reduce_sum(weight, axis=1)
    rows = tf.broadcast_to(tf.range(batch)[:, None], tf.shape(history,
                                                              tf.int64))
    share = {kind: _segment_rows(
        tf.reshape(weight, [-1]), tf.reshape(rows, [-1]),
        tf.reshape(attribute[kind], [-1]), batch, self._sizes(kind))
             / tf.maximum(count, 1.0)[:, None] for kind in _KINDS}
    price = tf.gather(self._item_log_price, history)
    priced = weight * tf.cast(price > 0, tf.float32)
    mean_price = tf.math.divide_no_nan(tf.reduce_sum(priced * price, axis=1),
                                       tf.reduce_sum(priced, axis=1))
    return Profiles(
        category=lift["category"], brand=lift["brand"],
        history_category=share["category"], history_brand=share["brand"],
        history_log_price=tf.where(tf.reduce_sum(priced, axis=1) > 0,
                                   mean_price, -1.0),
        has_history=tf.cast(count > 0, tf.float32), query_support=support)

  def split_features(self, profiles: Profiles, category: tf.Tensor,
                     brand: tf.Tensor, log_price: tf.Tensor
                     ) -> Tuple[tf.Tensor, tf.Tensor]:
    """The features of `features`, those that vary with the candidate
    (the first five, `[batch, num, 5]`) apart from those that do not (the
    last two, `[batch, 2]`), so a head need not copy the latter to every
    candidate."""
    category = tf.convert_to_tensor(category)
    per_request = category.shape.rank == 2
    gather = ((lambda table, ids: tf.gather(table, ids, batch_dims=1))
              if per_request else
              (lambda table, ids: tf.gather(table, ids, axis=1)))
    category = tf.cast(category, tf.int64)
    brand = tf.cast(brand, tf.int64)
    log_price = tf.cast(log_price, tf.float32)
    if not per_request:
      log_price = log_price[None, :]
    category_lift = gather(profiles.category, category)
    level = profiles.history_log_price[:, None]
    gap = tf.where((level >= 0) & (log_price > 0),
                   tf.abs(log_price - level), 0.0)
    candidate = tf.stack([
        category_lift,
        gather(profiles.brand, brand),
        gather(profiles.history_category, category),
        gather(profiles.history_brand, brand),
        tf.broadcast_to(gap, tf.shape(category_lift))], axis=-1)
    return candidate, tf.stack([profiles.has_history,
                                profiles.query_support], axis=-1)

  def features(self, profiles: Profiles, category: tf.Tensor,
               brand: tf.Tensor, log_price: tf.Tensor) -> tf.Tensor:
    """Candidates' features, `[batch, num, NUM_FEATURES]` (FEATURES' order).

    Args:
      profiles: of a batch of `batch` requests.
      category, brand: int ids, log_price: float; either `[batch, num]`,
        each request's own candidates, or `[num]`, the same candidates for
        every request.
    """
    candidate, request = self.split_features(profiles, category, brand,
                                             log_price)
    shape = tf.concat([tf.shape(candidate)[:-1], [2]], axis=0)
    return tf.concat([candidate,
                      tf.broadcast_to(request[:, None, :], shape)], axis=-1)
