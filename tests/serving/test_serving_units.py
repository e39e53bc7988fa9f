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
    np.array([[1, 2]], np.int64),
    np.array([0.5], np.float32),
])
def test_tensor_protos_are_tensorflows_both_ways(array):
  proto = tensors.to_proto(array)
  assert proto == tf.make_tensor_proto(array)
  decoded = tensors.to_array(proto)
  assert decoded.dtype == tf.make_ndarray(proto).dtype
  assert decoded.tolist() == array.tolist()


def test_a_string_tensor_of_other_values_is_refused():
  with pytest.raises(TypeError, match="expected bytes, int found"):
    tensors.to_proto(np.array([b"a", 1], dtype=object))
