"""The match features and their counts against loops written from the module docstring (NumPy), on small random batches."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from models import features as f
from models.layers import match

NUM_TOKEN_IDS, NUM_CATEGORY_IDS, NUM_BRAND_IDS, NUM_ITEM_IDS = 9, 6, 7, 12
# Known values: ids 2.. (0 padding, 1 out of vocabulary).
NUM_CATEGORIES, NUM_BRANDS = 4, 5


def _xf(key):
  return f.transformed_name(key)


def _batch(rng, size=6, list_size=5, tokens=4, history=3):
  """A random transformed list batch; tokens repeat and pad."""
  batch = {
      _xf(f.QUERY_TOKENS): rng.integers(0, NUM_TOKEN_IDS, (size, tokens)),
      _xf(f.USER_HISTORY): rng.integers(0, NUM_ITEM_IDS, (size, history)),
      _xf(f.CATEGORY): rng.integers(0, NUM_CATEGORY_IDS, (size, list_size)),
      _xf(f.BRAND): rng.integers(0, NUM_BRAND_IDS, (size, list_size)),
      _xf(f.LOG_PRICE): rng.uniform(0, 5, (size, list_size)),
      _xf(f.LABEL_CLICK): (rng.random((size, list_size)) < 0.4).astype(int),
      _xf(f.MASK): (rng.random((size, list_size)) < 0.85).astype(int),
      _xf(f.IN_TRAIN_COUNTS): rng.integers(0, 2, size),
  }
  batch[_xf(f.QUERY_TOKENS)][0, :2] = 3  # a repeated token
  batch[_xf(f.QUERY_TOKENS)][1] = 0  # a query without tokens
  batch[_xf(f.USER_HISTORY)][2] = 0  # no history
  return batch


def _attributes(rng):
  category = rng.integers(2, NUM_CATEGORY_IDS, NUM_ITEM_IDS)
  brand = rng.integers(2, NUM_BRAND_IDS, NUM_ITEM_IDS)
  price = rng.uniform(0.5, 4, NUM_ITEM_IDS).astype(np.float32)
  category[:2], brand[:2], price[:2] = 0, 0, 0  # padding, OOV: unknown
  price[5] = 0  # an item without a price
  return {"item_category": category, "item_brand": brand,
          "item_log_price": price}


def _np_counts(batches):
  """n(t, category), n(t, brand), n(t) by looping over lists."""
  pairs = {"category": collections.Counter(), "brand": collections.Counter()}
  per_token = collections.Counter()
  for batch in batches:
    for b in range(len(batch[_xf(f.MASK)])):
      tokens = set(batch[_xf(f.QUERY_TOKENS)][b]) - {0}
      positives = [n for n in range(batch[_xf(f.MASK)].shape[1])
                   if batch[_xf(f.MASK)][b, n] == 1
                   and batch[_xf(f.LABEL_CLICK)][b, n] == 1]
      for t in tokens:
        per_token[t] += len(positives)
        for n in positives:
          pairs["category"][(t, batch[_xf(f.CATEGORY)][b, n])] += 1
          pairs["brand"][(t, batch[_xf(f.BRAND)][b, n])] += 1
  return pairs, per_token


def _tables(rng, batches):
  return match.count_tables(batches, NUM_TOKEN_IDS, NUM_CATEGORY_IDS,
                            NUM_BRAND_IDS, NUM_CATEGORIES, NUM_BRANDS,
                            _attributes(rng))


def test_count_tables_match_a_loop():
  rng = np.random.default_rng(3)
  batches = [_batch(rng) for _ in range(3)]
  tables = _tables(rng, batches)
  pairs, per_token = _np_counts(batches)
  for kind, size in (("category", NUM_CATEGORY_IDS),
                     ("brand", NUM_BRAND_IDS)):
    expected = np.zeros((NUM_TOKEN_IDS, size))
    for (t, v), n in pairs[kind].items():
      expected[t, v] = n
    np.testing.assert_array_equal(getattr(tables, kind).dense(size),
                                  expected)
  np.testing.assert_array_equal(
      tables.token_positives,
      [per_token.get(t, 0) for t in range(NUM_TOKEN_IDS)])
  assert (tables.num_categories, tables.num_brands) == (NUM_CATEGORIES,
                                                        NUM_BRANDS)


def _np_features(tables, batch, cand_category, cand_brand, cand_price):
  """The module docstring's features, one request and candidate at a time."""
  ncat = tables.category.dense(NUM_CATEGORY_IDS)
  nbrand = tables.brand.dense(NUM_BRAND_IDS)
  ntok = tables.token_positives
  out = np.zeros(cand_category.shape + (match.NUM_FEATURES,))
  for b in range(cand_category.shape[0]):
    tokens = list(dict.fromkeys(t for t in batch[_xf(f.QUERY_TOKENS)][b]
                                if t != 0))
    own = {"category": collections.Counter(), "brand": collections.Counter()}
    own_total = 0
    if batch[_xf(f.IN_TRAIN_COUNTS)][b]:
      for n in range(batch[_xf(f.MASK)].shape[1]):
        if batch[_xf(f.MASK)][b, n] and batch[_xf(f.LABEL_CLICK)][b, n]:
          own["category"][batch[_xf(f.CATEGORY)][b, n]] += 1
          own["brand"][batch[_xf(f.BRAND)][b, n]] += 1
          own_total += 1
    history = [h for h in batch[_xf(f.USER_HISTORY)][b]
               if h != 0 and tables.item_category[h] != 0]
    prices = [tables.item_log_price[h] for h in history
              if tables.item_log_price[h] > 0]

    def lift(counts, kind, value, known):
      if not tokens:
        return 0.0
      return np.mean([np.log((counts[t, value] - own[kind][value] + 1)
                             / (ntok[t] - own_total + known))
                      for t in tokens]) + np.log(known)

    for n in range(cand_category.shape[1]):
      c, br, p = cand_category[b, n], cand_brand[b, n], cand_price[b, n]
      out[b, n] = [
          lift(ncat, "category", c, NUM_CATEGORIES),
          lift(nbrand, "brand", br, NUM_BRANDS),
          (np.mean([tables.item_category[h] == c for h in history])
           if history else 0.0),
          (np.mean([tables.item_brand[h] == br for h in history])
           if history else 0.0),
          abs(p - np.mean(prices)) if prices and p > 0 else 0.0,
          float(bool(history)),
          (np.log1p(np.mean([ntok[t] - own_total for t in tokens]))
           if tokens else 0.0)]
  return out


def test_features_of_lists_leave_their_own_positives_out():
  rng = np.random.default_rng(5)
  batches = [_batch(rng) for _ in range(3)]
  tables = _tables(rng, batches)
  layer = match.QueryItemMatch(tables)
  batch = batches[1]  # In the counts: a train list leaves itself out.
  got = layer.features(layer.profiles({k: tf.constant(v)
                                       for k, v in batch.items()}),
                       tf.constant(batch[_xf(f.CATEGORY)]),
                       tf.constant(batch[_xf(f.BRAND)]),
                       tf.constant(batch[_xf(f.LOG_PRICE)], tf.float32))
  expected = _np_features(tables, batch, batch[_xf(f.CATEGORY)],
                          batch[_xf(f.BRAND)], batch[_xf(f.LOG_PRICE)])
  np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)
  # A list of the counts with in_train_counts 1 sees no count of its own:
  # every (token, own category) count it reads is the others' only.
  assert batch[_xf(f.IN_TRAIN_COUNTS)].any()


def test_serving_requests_read_the_counts_whole_for_shared_candidates():
  rng = np.random.default_rng(7)
  batches = [_batch(rng) for _ in range(2)]
  tables = _tables(rng, batches)
  layer = match.QueryItemMatch(tables)
  # A serving request: context only (no labels, nothing left out), and the
  # same candidates for every request of the batch.
  context = {_xf(k): tf.constant(batches[0][_xf(k)])
             for k in (f.QUERY_TOKENS, f.USER_HISTORY)}
  category = rng.integers(0, NUM_CATEGORY_IDS, 7)
  brand = rng.integers(0, NUM_BRAND_IDS, 7)
  price = rng.uniform(0, 4, 7).astype(np.float32)
  got = layer.features(layer.profiles(context), tf.constant(category),
                       tf.constant(brand), tf.constant(price))
  size = batches[0][_xf(f.MASK)].shape[0]
  no_labels = {**batches[0], _xf(f.IN_TRAIN_COUNTS): np.zeros(size, int)}
  tile = lambda x: np.tile(x, (size, 1))
  expected = _np_features(tables, no_labels, tile(category), tile(brand),
                          tile(price))
  np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_hand_computed_lift():
  # Token 2 led to category 3 twice and category 4 once; 3 known values.
  rows = match.CountRows.from_dense_pairs(
      np.array([2, 2]), np.array([3, 4]), np.array([2.0, 1.0]), 4)
  tables = match.MatchTables(
      category=rows, brand=match.CountRows.from_dense_pairs(
          np.zeros(0, int), np.zeros(0, int), np.zeros(0), 4),
      token_positives=np.array([0, 0, 3, 0], np.float32),
      num_categories=3, num_brands=2, num_category_ids=5, num_brand_ids=4,
      item_category=np.zeros(3, np.int64), item_brand=np.zeros(3, np.int64),
      item_log_price=np.zeros(3, np.float32))
  layer = match.QueryItemMatch(tables)
  profiles = layer.profiles({_xf(f.QUERY_TOKENS): tf.constant([[2, 0]]),
                             _xf(f.USER_HISTORY): tf.constant([[0]])})
  got = layer.features(profiles, tf.constant([3, 4, 2]),
                       tf.constant([0, 0, 0]), tf.constant([0.0, 0, 0]))
  # log((2 + 1) / (3 + 3)) + log 3 = log 1.5; (1 + 1) / 6 * 3 = 1; 1/6 * 3.
  np.testing.assert_allclose(got.numpy()[0, :, 0],
                             np.log([1.5, 1.0, 0.5]), rtol=1e-6)
  np.testing.assert_allclose(got.numpy()[0, :, 6], np.log1p(3.0), rtol=1e-6)


def test_item_attributes_keep_known_ids_only():
  out = match.item_attributes(np.array([3, 1, 4]), np.array([5, 6, 7]),
                              np.array([8, 9, 10]),
                              np.array([1.5, 2.5, 3.5], np.float32), 6, 2)
  np.testing.assert_array_equal(out["item_category"], [0, 0, 0, 5, 7, 0])
  np.testing.assert_array_equal(out["item_brand"], [0, 0, 0, 8, 10, 0])
  np.testing.assert_allclose(out["item_log_price"], [0, 0, 0, 1.5, 3.5, 0])


@pytest.mark.parametrize("tokens, expected", [
    ([[3, 3, 0, 5]], [[True, False, False, True]]),
    ([[0, 0]], [[False, False]]),
    ([[1, 2, 1, 2]], [[True, True, False, False]]),
])
def test_distinct_tokens(tokens, expected):
  np.testing.assert_array_equal(match.distinct_tokens(np.array(tokens)),
                                expected)
