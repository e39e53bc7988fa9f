"""Pieces of the server and client without a model: error mapping, version folders, request building."""

import os
import re

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
  assert tf.make_ndarray(proto).tolist() == [[b"a"]]
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


@pytest.mark.parametrize("index", range(len(_TF_PROTOS)))
def test_a_protos_shape_is_the_shape_tensorflow_reads(index):
  proto = _TF_PROTOS[index]
  assert tensors.shape(proto) == list(tf.make_ndarray(proto).shape)


def test_a_string_tensor_of_other_values_is_refused():
  with pytest.raises(TypeError, match="expected bytes, int found"):
    tensors.to_proto(np.array([b"a", 1], dtype=object))


def test_strings_as_content_are_tensorflows_own_encoding():
  # By hand: each length as a varint (200 is 0xc8 0x01), then the bytes.
  long = b"z" * 200
  array = np.array([[b"a", b""], [b"bc", long]], dtype=object)
  proto = tensors.to_proto(array, strings_as_content=True)
  assert not proto.string_val
  assert proto.tensor_content == b"\x01\x00\x02\xc8\x01abc" + long
  assert [d.size for d in proto.tensor_shape.dim] == [2, 2]


def _strings(n, seed=0, longest=20):
  rng = np.random.default_rng(seed)
  return [bytes(rng.integers(0, 256, rng.integers(0, longest + 1)).astype(
      np.uint8)) for _ in range(n)]


@pytest.mark.parametrize("array", [
    np.array([[b"u1"], [b"\xff\x00"]], dtype=object),
    np.array(b"q", dtype=object),
    np.array([[b"a" * 300, b"b"]], dtype=object),  # A 2-byte length.
    np.array([_strings(1000)], dtype=object),
    np.array([_strings(5000)], dtype=object),
    np.array([_strings(5000, longest=300)], dtype=object),
    np.array([[b"a" * 20000, b"", b"b" * 128], [b"c" * 127, b"d" * 16384,
                                                b"e"]], dtype=object),
], ids=["small", "scalar", "long-small", "1000", "5000", "long-5000",
        "3-byte-lengths"])
def test_strings_as_content_read_back_in_tensorflow_and_here(array):
  proto = tensors.to_proto(array, strings_as_content=True)
  values = lambda tensor: np.array(tensor, dtype=object).tolist()
  # TensorFlow's C++ reader (Tensor::FromProto, which TF Serving uses).
  parsed = tf.io.parse_tensor(proto.SerializeToString(), tf.string)
  assert values(parsed.numpy()) == array.tolist()
  decoded = tensors.to_array(proto)
  assert decoded.dtype == object and decoded.tolist() == array.tolist()
  tensors.check_string_content(proto)  # Raises if it does not fit.


def test_the_client_sends_many_strings_as_content():
  n = tensors.LARGE_STRINGS + 1
  request = client_lib.predict_request("m", client_lib.rank_inputs([
      client_lib.RankRequest("u", "q", [f"i{i}" for i in range(n)])]))
  candidates = request.inputs["candidate_item_ids"]
  assert candidates.tensor_content and not candidates.string_val
  assert tf.io.parse_tensor(candidates.SerializeToString(), tf.string
                            ).numpy()[0, -1] == f"i{n - 1}".encode()
  assert request.inputs["user_id"].string_val == [b"u"]


@pytest.mark.parametrize("values, content", [
    ([b"ab", b"c"], b"\x02\x01abcd"),  # A byte more than the lengths say.
    ([b"ab", b"c"], b"\x02\x01ab"),  # Fewer.
    ([b"ab", b"c"], b"\x02"),  # Not even the lengths.
    ([b"a" * 300] * 2, b"\xac\x02\xac\x02" + b"a" * 599),  # 2-byte lengths.
    ([b"a" * 300] * 2, b"\xac\x02\xac"),  # The second length unfinished.
    ([b"ab", b"c"], b"\x82\x80\x80\x80\x80\x00\x01abc"),  # 6 bytes.
], ids=["extra", "short", "no-bytes", "long", "unfinished", "6-byte-length"])
def test_string_content_that_does_not_fit_is_refused(values, content):
  proto = tensors.to_proto(np.array(values, dtype=object),
                           strings_as_content=True)
  proto.tensor_content = content
  message = (f"its {len(content)} bytes of tensor_content are not 2 strings "
             "(each length as a varint, then the bytes)")
  with pytest.raises(ValueError, match=re.escape(message)):
    tensors.to_array(proto)
  with pytest.raises(ValueError, match=re.escape(message)):
    tensors.check_string_content(proto)


def test_strings_as_content_refuse_values_other_than_bytes():
  with pytest.raises(TypeError):
    tensors.to_proto(np.array([b"a", "b"], dtype=object),
                     strings_as_content=True)
