"""The versioned listwise training-example schema and its parsing spec."""

import os
from typing import Dict

import tensorflow as tf
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import schema_utils

from models import features as f

# Bump together with the `# schema version` line and the annotation tag of
# SCHEMA_FILE whenever a feature is added, removed or changes meaning.
SCHEMA_VERSION = 4
SCHEMA_VERSION_TAG = f"listwise_schema_version:{SCHEMA_VERSION}"
SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "listwise_schema.pbtxt")

_LIST_FEATURES = frozenset(f.LIST_STRING_FEATURES + f.LIST_FLOAT_FEATURES +
                           f.LIST_INT_FEATURES)


def _set_size(feature: schema_pb2.Feature, size: int) -> None:
  if size < 1:
    raise ValueError(f"{feature.name}: size must be >= 1, got {size}")
  if feature.shape.dim:
    raise ValueError(f"{SCHEMA_FILE}: {feature.name} has a size of its own; "
                     "list and history sizes come from ListwiseParams only")
  feature.shape.dim.add().size = size


def load_schema(list_size: int, history_length: int) -> schema_pb2.Schema:
  """The training-example schema, with the list and history sizes set.

  SCHEMA_FILE gives list features and `user_history` no shape: their sizes
  are the run's ListwiseParams (components/listwise/params.py) and are
  written once, there.

  Args:
    list_size: number of values of every list feature.
    history_length: number of values of `user_history`.

  Returns:
    The parsed schema of SCHEMA_FILE with those sizes.
  """
  with open(SCHEMA_FILE, encoding="utf-8") as schema_file:
    schema = text_format.Parse(schema_file.read(), schema_pb2.Schema())
  for feature in schema.feature:
    if feature.name in _LIST_FEATURES:
      _set_size(feature, list_size)
    elif feature.name == f.USER_HISTORY:
      _set_size(feature, history_length)
  return schema


def feature_spec(list_size: int,
                 history_length: int) -> Dict[str, tf.io.FixedLenFeature]:
  """`tf.io.parse_example` spec of a training example.

  Parsed context features are `[batch, 1]`, `user_history`
  `[batch, history_length]` and list features `[batch, list_size]`.
  """
  schema = load_schema(list_size, history_length)
  return schema_utils.schema_as_feature_spec(schema).feature_spec
