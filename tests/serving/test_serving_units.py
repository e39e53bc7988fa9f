"""Pieces of the server and client without a model: error mapping, version folders, request building."""

import os

import grpc
import numpy as np
import pytest
import tensorflow as tf

from models import features as f
from models import requests as requests_lib
from serving import client as client_lib
from serving import errors
from serving import layout
from serving import tensors


def test_tf_errors_keep_their_code_and_lose_the_graph_location():
  error = tf.errors.InvalidArgumentError(None, None, (
      "Graph execution error:\n\nDetected at node assert/Assert defined at "
      "(most recent call last):\n<stack traces unavailable>\nassertion "
      "failed: [more than 10 candidates]\n\t [[{{node assert/Assert}}]]"))
  assert errors.from_tf(error) == (grpc.StatusCode.INVALID_ARGUMENT,
                                   "assertion failed: [more than 10 "
                                   "candidates]")
  assert errors.from_tf(tf.errors.ResourceExhaustedError(
      None, None, "out of memory"))[0] == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_only_numeric_folders_are_versions(tmp_path):
  for name in ("1", "20", ".tmp-3", "latest"):
    os.makedirs(tmp_path / name)
  (tmp_path / "7").write_text("a file, not a folder")
  assert layout.list_versions(str(tmp_path)) == {
      1: str(tmp_path / "1"), 20: str(tmp_path / "20")}
  with pytest.raises(tf.errors.NotFoundError):
    layout.list_versions(str(tmp_path / "missing"))


def test_fingerprint_changes_when_a_file_is_written(tmp_path):
  (tmp_path / "saved_model.pb").write_bytes(b"x")
  before = layout.fingerprint(str(tmp_path))
  os.makedirs(tmp_path / "variables")
  (tmp_path / "variables" / "variables.index").write_bytes(b"y")
  assert layout.fingerprint(str(tmp_path)) != before


def test_the_client_re_exports_the_request_contract():
  assert client_lib.RankRequest is requests_lib.RankRequest
  assert client_lib.rank_inputs is requests_lib.rank_inputs
  assert client_lib.UNKNOWN_INT == f.UNKNOWN_INT


def test_predict_request_uses_only_standard_fields():
  request = client_lib.predict_request(
      "coarse_ranker", client_lib.rank_inputs(
          [client_lib.RankRequest("u", "q", ["a"])]), version=4)
  assert request.model_spec.name == "coarse_ranker"
  assert request.model_spec.signature_name == "serving_default"
  assert request.model_spec.version.value == 4
  proto = request.inputs["candidate_item_ids"]
  assert proto.dtype == tf.string.as_datatype_enum
  assert [d.size for d in proto.tensor_shape.dim] == [1, 1]
  assert tf.make_ndarray(request.inputs["age_bucket"]).tolist() == [-1]


@pytest.mark.parametrize("array", [
    np.array([[b"a", b""], [b"c", b"\xff"]], dtype=object),
    np.array([b"x", b"yy"]),
    np.zeros((0, 3), dtype=object),
    np.array(b"q", dtype=object),
])
def test_string_tensor_protos_are_tensorflows_both_ways(array):
  proto = tensors.to_proto(array)
  assert proto == tf.make_tensor_proto(array)
  decoded = tensors.to_array(proto)
  assert decoded.dtype == tf.make_ndarray(proto).dtype
  assert decoded.tolist() == array.tolist()


_FAST = (np.float32, np.float64, np.int32, np.int64)
_NUMERIC_ARRAYS = [
    np.array([[1, 2]], np.int64), np.array([0.5], np.float32),
    np.array([[-3]], np.int32), np.array(2.25, np.float64),
    np.zeros((0, 4), np.float32), np.arange(12, dtype=np.int64).reshape(3, 4).T,
    np.linspace(0, 1, 1000, dtype=np.float32).reshape(1, 1000),
    np.array([1, 2], np.float16), np.array([True, False]),
    np.array([7], np.uint8),
]
_ids = lambda a: f"{a.dtype.str}{list(a.shape)}"


@pytest.mark.parametrize("array", _NUMERIC_ARRAYS + [
    # tf.make_tensor_proto writes these bytes unswapped; to_proto swaps them.
    np.array([1.5, -2.0], dtype=">f4")], ids=_ids)
def test_numeric_tensor_protos_read_back_as_tensorflow_reads_them(array):
  proto = tensors.to_proto(array)
  assert proto.dtype == tf.as_dtype(array.dtype).as_datatype_enum
  assert [d.size for d in proto.tensor_shape.dim] == list(array.shape)
  if array.dtype.type in _FAST:  # The fast path: the bytes, no values.
    assert len(proto.tensor_content) == array.nbytes
    assert not [f for f, _ in proto.ListFields() if f.name.endswith("_val")]
  for decoded in (tf.make_ndarray(proto), tensors.to_array(proto)):
    assert decoded.dtype == array.dtype.newbyteorder("=")
    assert decoded.shape == array.shape
    np.testing.assert_array_equal(decoded, array)


_TF_PROTOS = [tf.make_tensor_proto(a) for a in _NUMERIC_ARRAYS] + [
    # Fewer values than the shape: TensorFlow repeats the last one.
    tf.make_tensor_proto(5, dtype=tf.int64, shape=[2, 3]),
    tf.make_tensor_proto([1.0, 2.0], dtype=tf.float32, shape=[3]),
    tensors.to_proto(np.array([b"a", b"b"], dtype=object)),
    tf.make_tensor_proto([b"a"], dtype=tf.string, shape=[2]),
]


@pytest.mark.parametrize("index", range(len(_TF_PROTOS)))
def test_tensorflows_tensor_protos_are_read_as_make_ndarray_reads_them(
    index, monkeypatch):
  proto = _TF_PROTOS[index]
  expected = tf.make_ndarray(proto)
  fills = expected.size == len(proto.tensor_content) // max(
      expected.itemsize, 1) or expected.size == sum(
          len(v) for f, v in proto.ListFields() if f.name.endswith("_val"))
  if fills and (expected.dtype.type in _FAST or expected.dtype == object):
    # The fast path reads it without TensorFlow.
    monkeypatch.setattr(tensors.tf, "make_ndarray", None)
  decoded = tensors.to_array(proto)
  assert decoded.dtype == expected.dtype
  assert decoded.shape == expected.shape
  np.testing.assert_array_equal(decoded, expected)
  assert decoded.flags.writeable


def test_a_string_tensor_of_other_values_is_refused():
  with pytest.raises(TypeError, match="expected bytes, int found"):
    tensors.to_proto(np.array([b"a", 1], dtype=object))
