"""Tests of the listwise schema file, its version and the parsing spec."""

import numpy as np
import pytest
from google.protobuf import text_format
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2

from components.listwise import encode
from components.listwise import lists
from components.listwise import params as params_lib
from components.listwise import sampling
from models import features as f
from models import schema as schema_lib

_TYPES = {schema_pb2.BYTES: f.TRAIN_STRING_FEATURES,
          schema_pb2.FLOAT: f.TRAIN_FLOAT_FEATURES,
          schema_pb2.INT: f.TRAIN_INT_FEATURES}
_LIST_FEATURES = (f.LIST_STRING_FEATURES + f.LIST_FLOAT_FEATURES +
                  f.LIST_INT_FEATURES)


def _sizes(schema):
  return {feature.name: [d.size for d in feature.shape.dim]
          for feature in schema.feature}


_DEFAULTS = params_lib.ListwiseParams()


def _load(list_size=_DEFAULTS.list_size,
          history_length=_DEFAULTS.history_length):
  return schema_lib.load_schema(list_size, history_length)


def test_schema_covers_exactly_the_training_features():
  schema = _load()
  names = [feature.name for feature in schema.feature]
  assert len(names) == len(set(names))
  assert set(names) == set(f.TRAIN_STRING_FEATURES + f.TRAIN_FLOAT_FEATURES +
                           f.TRAIN_INT_FEATURES)
  for feature in schema.feature:
    assert feature.name in _TYPES[feature.type]
    assert feature.presence.min_fraction == 1.0


def test_the_file_leaves_list_and_history_sizes_to_the_listwise_params():
  with open(schema_lib.SCHEMA_FILE, encoding="utf-8") as schema_file:
    raw = text_format.Parse(schema_file.read(), schema_pb2.Schema())
  for name, size in _sizes(raw).items():
    if name in _LIST_FEATURES or name == f.USER_HISTORY:
      assert size == [], name
    else:
      assert size == [1], name
  sizes = _sizes(_load())
  for name, size in sizes.items():
    if name in _LIST_FEATURES:
      assert size == [_DEFAULTS.list_size], name
    elif name == f.USER_HISTORY:
      assert size == [_DEFAULTS.history_length]
    else:
      assert size == [1], name


def test_value_domains():
  domains = {feature.name: (feature.int_domain.min, feature.int_domain.max)
             for feature in _load().feature
             if feature.HasField("int_domain")}
  for name in f.LABELS + (f.MASK, f.FINE_SCORE_MASK):
    assert domains[name] == (0, 1)
  assert domains[f.SAMPLE_TYPE] == (min(f.SAMPLE_TYPE_NAMES),
                                    max(f.SAMPLE_TYPE_NAMES))
  assert domains[f.AGE_BUCKET][0] == f.UNKNOWN_INT


def test_version_is_recorded_in_file_and_annotation():
  with open(schema_lib.SCHEMA_FILE, encoding="utf-8") as schema_file:
    first_line = schema_file.readline().strip()
  assert first_line == f"# schema version {schema_lib.SCHEMA_VERSION}"
  assert list(_load().annotation.tag) == [
      schema_lib.SCHEMA_VERSION_TAG]


def test_a_schema_file_with_a_size_of_its_own_is_refused(tmp_path,
                                                          monkeypatch):
  with open(schema_lib.SCHEMA_FILE, encoding="utf-8") as schema_file:
    raw = text_format.Parse(schema_file.read(), schema_pb2.Schema())
  item = next(x for x in raw.feature if x.name == f.ITEM_ID)
  item.shape.dim.add().size = 40
  path = tmp_path / "listwise_schema.pbtxt"
  path.write_text(text_format.MessageToString(raw), encoding="utf-8")
  monkeypatch.setattr(schema_lib, "SCHEMA_FILE", str(path))
  with pytest.raises(ValueError, match="item_id has a size of its own"):
    _load()


def test_sizes_are_configurable():
  sizes = _sizes(schema_lib.load_schema(list_size=7, history_length=2))
  assert sizes[f.ITEM_ID] == [7] and sizes[f.MASK] == [7]
  assert sizes[f.USER_HISTORY] == [2]
  assert sizes[f.USER_ID] == [1]
  with pytest.raises(ValueError, match="size must be >= 1"):
    schema_lib.load_schema(list_size=0, history_length=2)


@pytest.mark.parametrize("list_size,history_length", [(40, 20), (6, 3)])
def test_feature_spec_parses_a_built_example(list_size, history_length):
  params = params_lib.ListwiseParams(list_size=list_size,
                                     history_length=history_length,
                                     num_random=2, seed=1)
  catalog = {f"i{k}": (f"c{k % 2}", f"b{k % 3}", 10.0 * k)
             for k in range(1, 9)}
  sampler = sampling.NegativeSampler(list(catalog), [1.0] * len(catalog),
                                     alpha=0.0, smoothing=1.0)
  request = lists.RequestData(
      request_id="r1", user_id="u1", query="red shoes", ts=100,
      history=["i7", "i8"], age_bucket=2, gender="f",
      impressions=[
          lists.Impression("i1", 0.9, True, 0, True, True),
          lists.Impression("i2", 0.5, True, 1, False, False),
          lists.Impression("i3", 0.2, False, -1, False, False),
      ],
      attributed=["i4"])
  values, _ = lists.build_list(request, catalog, sampler, params,
                               item_stats={"i1": (3, 1, 0)}, in_train=False)

  parsed = tf.io.parse_example(
      [encode.train_example(values)],
      schema_lib.feature_spec(list_size, history_length))

  assert set(parsed) == set(values)
  for key, tensor in parsed.items():
    expected = values[key]
    assert tensor.shape == (1, len(expected)), key
    got = tensor.numpy()[0]
    if tensor.dtype == tf.string:
      assert [v.decode("utf-8") for v in got] == expected, key
    else:
      np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=key)
  assert parsed[f.ITEM_ID].shape == (1, list_size)
  assert parsed[f.USER_HISTORY].shape == (1, history_length)
  assert parsed[f.QUERY].shape == (1, 1)
