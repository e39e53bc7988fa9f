"""Runs the Transform preprocessing_fn on hand-built examples with tft_beam."""

from typing import Dict, List, Sequence

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata

from models import features as f
from models import preprocessing
from models import preprocessing_config
from models import schema as schema_lib
from models import serving as model_serving

LIST_SIZE = 5
HISTORY_LENGTH = 3
CONFIG = {"num_oov_buckets": 1, "num_price_buckets": 4, "max_query_tokens": 3}
# item_id -> (category, brand).
CATALOG = {
    "i1": ("c1", "b1"), "i2": ("c1", "b2"), "i3": ("c2", "b1"),
    "i4": ("c2", "b2"), "i5": ("c3", "b3"), "i9": ("c9", "b9"),
}
# item_id -> (exposures, clicks, purchases, sales) over the train split.
STATS = {"i1": (200, 30, 6, 20), "i2": (40, 2, 0, 3), "i3": (9, 3, 2, 5),
         "i4": (0, 0, 0, 0), "i5": (1, 1, 1, 1), "i9": (0, 0, 0, 7)}


def _example(request_id: str, user_id: str, query: str,
             history: Sequence[str], items: Sequence[str],
             prices: Sequence[float], gender: str = f.PAD_STRING,
             age_bucket: int = f.UNKNOWN_INT,
             purchase_power: int = f.UNKNOWN_INT) -> Dict[str, List]:
  """A training example as built by components.listwise.lists.build_list."""
  n = len(items)
  pad = LIST_SIZE - n
  return {
      f.REQUEST_ID: [request_id], f.USER_ID: [user_id], f.QUERY: [query],
      f.TS: [1_700_000_000], f.AGE_BUCKET: [age_bucket], f.GENDER: [gender],
      f.PURCHASE_POWER: [purchase_power],
      f.IN_TRAIN_COUNTS: [int(request_id.startswith("r"))],
      f.USER_HISTORY: (list(history) +
                       [f.PAD_STRING] * (HISTORY_LENGTH - len(history))),
      f.ITEM_ID: list(items) + [f.PAD_STRING] * pad,
      f.CATEGORY: [CATALOG[i][0] for i in items] + [f.PAD_STRING] * pad,
      f.BRAND: [CATALOG[i][1] for i in items] + [f.PAD_STRING] * pad,
      f.PRICE: list(prices) + [f.PAD_FLOAT] * pad,
      f.LABEL_EXPOSURE: [1] * n + [f.PAD_INT] * pad,
      f.LABEL_CLICK: [1, 1][:n] + [0] * max(0, n - 2) + [f.PAD_INT] * pad,
      f.LABEL_PURCHASE: [1] + [0] * (n - 1) + [f.PAD_INT] * pad,
      f.FINE_SCORE: [0.5 - 0.1 * k for k in range(n)] + [f.PAD_FLOAT] * pad,
      f.FINE_SCORE_MASK: [1] * (n - 1) + [0] + [f.PAD_INT] * pad,
      f.SAMPLING_LOG_Q: [0.0] * (n - 1) + [-4.5] + [f.PAD_FLOAT] * pad,
      f.SAMPLE_TYPE: ([f.SAMPLE_EXPOSED] * (n - 1) + [f.SAMPLE_RANDOM] +
                      [f.SAMPLE_PAD] * pad),
      f.MASK: [1] * n + [f.PAD_INT] * pad,
      **{key: [float(STATS[i][k]) for i in items] + [f.PAD_FLOAT] * pad
         for k, key in enumerate(f.ITEM_STATS)},
  }


# Counts over the item lists plus the histories (one shared vocabulary):
# i1 5+3=8, i2 4+3=7, i3 4+1=5, i4 2, i5 1. Over the lists only: categories
# c1 9, c2 6, c3 1; brands b1 9, b2 6, b3 1. Query tokens, after truncation
# to 3 ("running" is cut): shoes 4, red 3, dress 2, blue 1. Users u1 3, u2 2,
# u3 1; genders f 3, m 2. The 16 valid prices are 1..16: quartile boundaries
# 5, 9, 13.
TRAIN = [
    _example("r1", "u1", "red shoes", ["i1", "i2"], ["i1", "i2", "i3"],
             [1, 2, 3], gender="f", age_bucket=2, purchase_power=3),
    _example("r2", "u2", "red dress", ["i1"], ["i1", "i4"], [4, 5],
             gender="m", age_bucket=0),
    _example("r3", "u1", "shoes", [], ["i1", "i2", "i3", "i4", "i5"],
             [6, 7, 8, 9, 10], gender="f", purchase_power=1),
    _example("r4", "u3", "  blue\tshoes   red running ", ["i3", "i2", "i1"],
             ["i2", "i3"], [11, 12]),
    _example("r5", "u1", "", ["i2"], ["i1", "i2"], [13, 14], gender="f"),
    _example("r6", "u2", "shoes dress", [], ["i1", "i3"], [15, 16],
             gender="m"),
]
# With one OOV id: 0 padding, 1 OOV, known values from 2 by frequency.
ITEM_IDS = {"": 0, "i1": 2, "i2": 3, "i3": 4, "i4": 5, "i5": 6}
ATTRIBUTE_IDS = {"": 0, "c1": 2, "c2": 3, "c3": 4, "b1": 2, "b2": 3, "b3": 4}
TOKEN_IDS = {"shoes": 2, "red": 3, "dress": 4, "blue": 5}
USER_IDS = {"u1": 2, "u2": 3, "u3": 4}
GENDER_IDS = {"": 0, "f": 2, "m": 3}

# Seen only at transform time: i9, c9, b9, u9, "x", "green", and "running"
# (truncated away in training).
UNSEEN = [
    _example("n1", "u9", "green shoes", ["i9", "i1"], ["i9", "i1"],
             [0.5, 100.0], gender="x"),
    _example("n2", "u1", "running", [], ["i5", "i9"], [9.0, 200.0],
             gender="m"),
]


def _instance(values: Dict[str, List]) -> Dict[str, np.ndarray]:
  return {key: np.array([v.encode("utf-8") if isinstance(v, str) else v
                         for v in vals]) for key, vals in values.items()}


# The smoothed CTR itself, also output by the test's preprocessing_fn.
_CTR = "smoothed_ctr"
PRIOR_STRENGTH = 20.0


def _keyed_fn(config):
  """preprocessing_fn plus the request id, to match outputs to inputs."""

  def fn(inputs):
    out = preprocessing.preprocessing_fn(
        inputs, {preprocessing_config.CUSTOM_CONFIG_KEY: config})
    out[f.REQUEST_ID] = tf.squeeze(inputs[f.REQUEST_ID], axis=1)
    out[_CTR], _ = preprocessing.smoothed_rate(
        inputs[f.ITEM_CLICKS], inputs[f.ITEM_EXPOSURES], inputs[f.MASK],
        PRIOR_STRENGTH)
    return out

  return fn


def _run(config, tmp_dir):
  """Fits on TRAIN; returns (train outputs, unseen outputs, TFTransformOutput).

  Outputs are keyed by request id.
  """
  metadata = dataset_metadata.DatasetMetadata(
      schema_lib.load_schema(LIST_SIZE, HISTORY_LENGTH))
  with tft_beam.Context(temp_dir=str(tmp_dir / "tmp")):
    (train_out, _), transform_fn = (
        ([_instance(e) for e in TRAIN], metadata)
        | tft_beam.AnalyzeAndTransformDataset(_keyed_fn(config)))
    unseen_out, _ = (
        (([_instance(e) for e in UNSEEN], metadata), transform_fn)
        | tft_beam.TransformDataset())
    _ = transform_fn | tft_beam.WriteTransformFn(str(tmp_dir / "transform"))

  def by_id(rows):
    return {r.pop(f.REQUEST_ID).decode("utf-8"): r for r in rows}

  return (by_id(train_out), by_id(unseen_out),
          tft.TFTransformOutput(str(tmp_dir / "transform")))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
  return _run(CONFIG, tmp_path_factory.mktemp("one_oov"))


@pytest.fixture(scope="module")
def fitted_three_oov(tmp_path_factory):
  return _run({**CONFIG, "num_oov_buckets": 3},
              tmp_path_factory.mktemp("three_oov"))


def _ids(mapping, values):
  return [mapping[v] for v in values]


def test_outputs_and_shapes(fitted):
  train, _, _ = fitted
  assert set(train) == {e[f.REQUEST_ID][0] for e in TRAIN}
  list_keys = [f.ITEM_ID, f.CATEGORY, f.BRAND, f.PRICE_BUCKET,
               f.EXPOSURE_BUCKET, f.CTR_BUCKET, f.CVR_BUCKET,
               f.EXPOSURE_SCORE, f.CTR_SCORE, f.CVR_SCORE, f.SALES_SCORE,
               f.LOG_PRICE, f.ITEM_KEY,
               f.LABEL_EXPOSURE, f.LABEL_CLICK, f.LABEL_PURCHASE, f.MASK,
               f.FINE_SCORE, f.FINE_SCORE_MASK, f.SAMPLING_LOG_Q,
               f.SAMPLE_TYPE]
  shapes = {f.transformed_name(k): (LIST_SIZE,) for k in list_keys}
  shapes[_CTR] = (LIST_SIZE,)
  shapes[f.transformed_name(f.USER_HISTORY)] = (HISTORY_LENGTH,)
  shapes[f.transformed_name(f.QUERY_TOKENS)] = (3,)
  for key in (f.USER_ID, f.GENDER, f.AGE_BUCKET, f.PURCHASE_POWER,
              f.REQUEST_ID, f.IN_TRAIN_COUNTS):
    shapes[f.transformed_name(key)] = ()
  for row in train.values():
    assert {k: np.shape(v) for k, v in row.items()} == shapes


def test_item_ids_are_shared_between_list_and_history(fitted):
  train, _, _ = fitted
  for example in TRAIN:
    row = train[example[f.REQUEST_ID][0]]
    assert row[f.transformed_name(f.ITEM_ID)].tolist() == _ids(
        ITEM_IDS, example[f.ITEM_ID])
    assert row[f.transformed_name(f.USER_HISTORY)].tolist() == _ids(
        ITEM_IDS, example[f.USER_HISTORY])
  assert train["r1"][f.transformed_name(f.ITEM_ID)].tolist() == [2, 3, 4, 0, 0]
  assert train["r1"][f.transformed_name(f.USER_HISTORY)].tolist() == [2, 3, 0]


def test_sales_score_log_price_and_context_pass_through(fitted):
  train, unseen, _ = fitted
  # log(1 + sales) over the train maximum (i1's 20; i9's 7 is in no train
  # list); log(1 + price); 0 on padding.
  most = np.log1p(20)
  for rows, examples in ((train, TRAIN), (unseen, UNSEEN)):
    for example in examples:
      row = rows[example[f.REQUEST_ID][0]]
      items = [i for i in example[f.ITEM_ID] if i]
      pad = [0.0] * (LIST_SIZE - len(items))
      np.testing.assert_allclose(
          row[f.transformed_name(f.SALES_SCORE)],
          [np.log1p(STATS[i][3]) / most for i in items] + pad, rtol=1e-5)
      np.testing.assert_allclose(
          row[f.transformed_name(f.LOG_PRICE)],
          list(np.log1p(example[f.PRICE][:len(items)])) + pad, rtol=1e-5)
      assert row[f.transformed_name(f.REQUEST_ID)] == (
          example[f.REQUEST_ID][0].encode())
      assert row[f.transformed_name(f.IN_TRAIN_COUNTS)] == (
          example[f.IN_TRAIN_COUNTS][0])


def test_item_key_is_the_raw_id(fitted):
  train, unseen, _ = fitted
  for rows, examples in ((train, TRAIN), (unseen, UNSEEN)):
    for example in examples:
      got = rows[example[f.REQUEST_ID][0]][f.transformed_name(f.ITEM_KEY)]
      assert [v.decode() for v in got] == example[f.ITEM_ID]


def test_smoothed_ctr_against_numpy(fitted):
  train, unseen, _ = fitted
  # The prior: clicks over exposures of every valid train entry.
  entries = [(i, STATS[i]) for e in TRAIN for i in e[f.ITEM_ID] if i]
  prior = (sum(s[1] for _, s in entries) / sum(s[0] for _, s in entries))
  expected = lambda item: ((STATS[item][1] + PRIOR_STRENGTH * prior)
                           / (STATS[item][0] + PRIOR_STRENGTH))
  for rows, examples in ((train, TRAIN), (unseen, UNSEEN)):
    for example in examples:
      got = rows[example[f.REQUEST_ID][0]][_CTR]
      items = [i for i in example[f.ITEM_ID] if i]
      np.testing.assert_allclose(got[:len(items)],
                                 [expected(i) for i in items], rtol=1e-5)
  # An item never exposed gets the prior; one with many exposures keeps
  # nearly its own rate.
  assert expected("i4") == pytest.approx(prior)
  assert abs(expected("i1") - 30 / 200) < abs(prior - 30 / 200)
  # The numbers the item tower reads: log(1 + exposures) over the train
  # maximum (i1's 200), log of the CTR over the overall rate; 0 padding.
  most = np.log1p(200)
  for rows, examples in ((train, TRAIN), (unseen, UNSEEN)):
    for example in examples:
      row = rows[example[f.REQUEST_ID][0]]
      items = [i for i in example[f.ITEM_ID] if i]
      pad = [0.0] * (LIST_SIZE - len(items))
      np.testing.assert_allclose(
          row[f.transformed_name(f.EXPOSURE_SCORE)],
          [np.log1p(STATS[i][0]) / most for i in items] + pad, rtol=1e-5)
      np.testing.assert_allclose(
          row[f.transformed_name(f.CTR_SCORE)],
          [np.log(expected(i) / prior) for i in items] + pad, rtol=1e-4,
          atol=1e-6)


def test_statistics_buckets_follow_their_order_with_padding_zero(fitted):
  train, unseen, _ = fitted
  for key, value in ((f.EXPOSURE_BUCKET, lambda i: STATS[i][0]),
                     (f.CTR_BUCKET, None)):
    pairs = []
    for rows, examples in ((train, TRAIN), (unseen, UNSEEN)):
      for example in examples:
        row = rows[example[f.REQUEST_ID][0]]
        buckets = row[f.transformed_name(key)].tolist()
        n = sum(1 for i in example[f.ITEM_ID] if i)
        assert buckets[n:] == [0] * (LIST_SIZE - n)  # padding
        assert min(buckets[:n]) >= 1
        scores = (row[_CTR][:n] if value is None
                  else [value(i) for i in example[f.ITEM_ID][:n]])
        pairs += zip(scores, buckets[:n])
    pairs.sort()
    assert [b for _, b in pairs] == sorted(b for _, b in pairs), key
    assert len({b for _, b in pairs}) > 1, key


def test_item_attribute_ids(fitted):
  train, _, _ = fitted
  for example in TRAIN:
    row = train[example[f.REQUEST_ID][0]]
    for key in (f.CATEGORY, f.BRAND):
      assert row[f.transformed_name(key)].tolist() == _ids(
          ATTRIBUTE_IDS, example[key])


def test_query_tokens_split_truncated_and_padded(fitted):
  train, _, _ = fitted
  tokens = {r: row[f.transformed_name(f.QUERY_TOKENS)].tolist()
            for r, row in train.items()}
  assert tokens == {
      "r1": [3, 2, 0],  # red shoes
      "r2": [3, 4, 0],  # red dress
      "r3": [2, 0, 0],  # shoes
      "r4": [5, 2, 3],  # blue shoes red (running truncated)
      "r5": [0, 0, 0],  # empty query
      "r6": [2, 4, 0],  # shoes dress
  }


def test_context_ids_and_profile_shift(fitted):
  train, _, _ = fitted
  got = {r: (int(row[f.transformed_name(f.USER_ID)]),
             int(row[f.transformed_name(f.GENDER)]),
             int(row[f.transformed_name(f.AGE_BUCKET)]),
             int(row[f.transformed_name(f.PURCHASE_POWER)]))
         for r, row in train.items()}
  # Unknown profile integers (-1) become 0, known ones shift by one.
  assert got == {
      "r1": (USER_IDS["u1"], GENDER_IDS["f"], 3, 4),
      "r2": (USER_IDS["u2"], GENDER_IDS["m"], 1, 0),
      "r3": (USER_IDS["u1"], GENDER_IDS["f"], 0, 2),
      "r4": (USER_IDS["u3"], GENDER_IDS[""], 0, 0),
      "r5": (USER_IDS["u1"], GENDER_IDS["f"], 0, 0),
      "r6": (USER_IDS["u2"], GENDER_IDS["m"], 0, 0),
  }


def test_price_buckets_over_valid_prices_with_padding_zero(fitted):
  train, _, _ = fitted
  buckets = {r: row[f.transformed_name(f.PRICE_BUCKET)].tolist()
             for r, row in train.items()}
  # Prices 1-4 -> 1, 5-8 -> 2, 9-12 -> 3, 13-16 -> 4; padding (price 0,
  # below every valid price) -> 0.
  assert buckets == {
      "r1": [1, 1, 1, 0, 0], "r2": [1, 2, 0, 0, 0], "r3": [2, 2, 2, 3, 3],
      "r4": [3, 3, 0, 0, 0], "r5": [4, 4, 0, 0, 0], "r6": [4, 4, 0, 0, 0],
  }


def test_labels_and_masks_pass_through(fitted):
  train, _, _ = fitted
  for example in TRAIN:
    row = train[example[f.REQUEST_ID][0]]
    for key in (f.LABEL_EXPOSURE, f.LABEL_CLICK, f.LABEL_PURCHASE, f.MASK,
                f.FINE_SCORE_MASK, f.SAMPLE_TYPE):
      assert row[f.transformed_name(key)].tolist() == example[key]
    np.testing.assert_allclose(row[f.transformed_name(f.FINE_SCORE)],
                               example[f.FINE_SCORE], rtol=1e-6)
    np.testing.assert_allclose(row[f.transformed_name(f.SAMPLING_LOG_Q)],
                               example[f.SAMPLING_LOG_Q], rtol=1e-6)


def test_unseen_values_get_oov_ids_not_padding(fitted):
  _, unseen, _ = fitted
  n1, n2 = unseen["n1"], unseen["n2"]
  assert n1[f.transformed_name(f.ITEM_ID)].tolist() == [1, 2, 0, 0, 0]
  assert n1[f.transformed_name(f.USER_HISTORY)].tolist() == [1, 2, 0]
  assert n1[f.transformed_name(f.CATEGORY)].tolist() == [1, 2, 0, 0, 0]
  assert n1[f.transformed_name(f.BRAND)].tolist() == [1, 2, 0, 0, 0]
  assert n1[f.transformed_name(f.QUERY_TOKENS)].tolist() == [1, 2, 0]
  assert int(n1[f.transformed_name(f.USER_ID)]) == 1
  assert int(n1[f.transformed_name(f.GENDER)]) == 1
  # Prices outside the fitted range fall into the first and last buckets.
  assert n1[f.transformed_name(f.PRICE_BUCKET)].tolist() == [1, 4, 0, 0, 0]
  assert n2[f.transformed_name(f.QUERY_TOKENS)].tolist() == [1, 0, 0]
  assert n2[f.transformed_name(f.ITEM_ID)].tolist() == [6, 1, 0, 0, 0]
  assert n2[f.transformed_name(f.PRICE_BUCKET)].tolist() == [3, 4, 0, 0, 0]


def test_oov_ids_come_before_known_ids(fitted_three_oov):
  train, unseen, _ = fitted_three_oov
  assert train["r1"][f.transformed_name(f.ITEM_ID)].tolist() == [4, 5, 6, 0, 0]
  assert train["r4"][f.transformed_name(f.QUERY_TOKENS)].tolist() == [7, 4, 5]
  oov = unseen["n1"][f.transformed_name(f.ITEM_ID)][0]
  assert 1 <= oov <= 3
  assert unseen["n1"][f.transformed_name(f.USER_HISTORY)][0] == oov


def test_vocabulary_files_and_id_domains(fitted):
  _, _, output = fitted
  assert output.vocabulary_by_name(f.ITEM_VOCAB) == [
      b"i1", b"i2", b"i3", b"i4", b"i5"]
  assert output.vocabulary_by_name(f.QUERY_TOKEN_VOCAB) == [
      b"shoes", b"red", b"dress", b"blue"]
  for vocab, size in ((f.CATEGORY_VOCAB, 3), (f.BRAND_VOCAB, 3),
                      (f.USER_VOCAB, 3), (f.GENDER_VOCAB, 2)):
    assert output.vocabulary_size_by_name(vocab) == size
  # Id space: padding + OOV ids + vocabulary; price: padding + 4 buckets.
  expected = {f.ITEM_ID: 7, f.USER_HISTORY: 7, f.CATEGORY: 5, f.BRAND: 5,
              f.QUERY_TOKENS: 6, f.USER_ID: 5, f.GENDER: 4,
              f.PRICE_BUCKET: 5}
  assert {k: output.num_buckets_for_transformed_feature(f.transformed_name(k))
          for k in expected} == expected


def test_query_tokens_function():
  tokens = preprocessing.query_tokens(
      tf.constant(["a  b\tc d", "", " x "]), max_tokens=3)
  assert tokens.shape == (3, 3)
  assert tokens.numpy().tolist() == [
      [b"a", b"b", b"c"], [b"", b"", b""], [b"x", b"", b""]]


def test_config_from_custom_config():
  assert preprocessing_config.PreprocessingConfig.from_custom_config(None) == (
      preprocessing_config.PreprocessingConfig())
  config = preprocessing_config.PreprocessingConfig.from_custom_config(
      {"preprocessing": {"num_oov_buckets": 2}, "code_fingerprint": "ab12"})
  assert config.num_oov_buckets == 2
  assert preprocessing_config.PreprocessingConfig.from_custom_config(
      config.to_custom_config()) == config
  with pytest.raises(ValueError, match="unknown preprocessing parameters"):
    preprocessing_config.PreprocessingConfig.from_custom_config(
        {"preprocessing": {"oov": 2}})
  with pytest.raises(ValueError, match="num_price_buckets"):
    preprocessing_config.PreprocessingConfig(num_price_buckets=0)


def test_vocabulary_tables_are_filled_at_load_not_on_every_call(fitted):
  _, _, output = fitted
  layer = output.transform_features_layer()
  spec = schema_lib.feature_spec(LIST_SIZE, HISTORY_LENGTH)
  batch = {key: tf.constant([value], spec[key].dtype)
           for key, value in _instance(TRAIN[0]).items()}
  transform = tf.function(layer).get_concrete_function(batch)
  assert model_serving.table_initializers(transform) == []
  # The traced function still looks every vocabulary up.
  assert transform(batch)[f.transformed_name(f.ITEM_ID)].numpy().tolist() == [
      _ids(ITEM_IDS, TRAIN[0][f.ITEM_ID])]
