"""The local server's REST API over loopback HTTP: both formats, bad requests, status, metadata, a version swap under load."""

import http.client
import json
import time

import grpc
import numpy as np
import pytest

from models import serving as model_serving
from serving import client as client_lib
from serving import constants
from serving import rest_client
from serving import rest_json
from testing import serving as serving_testing

pytestmark = pytest.mark.slow

_MODEL = constants.DEFAULT_MODEL_NAME
_PREDICT = f"/v1/models/{_MODEL}:predict"


@pytest.fixture(scope="module")
def requests(exported):
  return serving_testing.sample_requests(exported.logs_dir, 3, 200)


def _call(running, method, path, body=None):
  """(HTTP status, JSON answer, headers) of one request to the REST API."""
  host, port = running.rest_target.rsplit(":", 1)
  connection = http.client.HTTPConnection(host, int(port), timeout=60)
  try:
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(
        body).encode()
    connection.request(method, path, body=data)
    response = connection.getresponse()
    return response.status, json.loads(response.read()), dict(
        response.getheaders())
  finally:
    connection.close()


def _columns(inputs):
  return {name: rest_json.to_json(value) for name, value in inputs.items()}


def _rows(inputs):
  columns = _columns(inputs)
  return [{name: value[i] for name, value in columns.items()}
          for i in range(len(columns["user_id"]))]


def test_both_formats_answer_what_grpc_answers(shared_server, requests):
  inputs = client_lib.rank_inputs(requests)
  with client_lib.RankingClient(shared_server.target, _MODEL) as client:
    expected, _ = client.predict(inputs)
  status, rows, headers = _call(shared_server, "POST", _PREDICT,
                                {"instances": _rows(inputs)})
  assert status == 200, rows
  assert headers["X-Model-Version"] == "1"
  assert len(rows["predictions"]) == len(requests)
  status, columns, _ = _call(
      shared_server, "POST", f"/v1/models/{_MODEL}/versions/1:predict",
      {"signature_name": "serving_default", "inputs": _columns(inputs)})
  assert status == 200, columns
  for name, value in expected.items():
    np.testing.assert_array_equal(
        np.array(columns["outputs"][name], value.dtype), value)
    np.testing.assert_array_equal(
        np.array([row[name] for row in rows["predictions"]], value.dtype),
        value)


def test_the_rest_client_ranks_as_the_grpc_client(shared_server, requests):
  with client_lib.RankingClient(shared_server.target, _MODEL) as grpc_client, (
      rest_client.RestRankingClient(shared_server.rest_target)) as client:
    for request in requests:
      expected, ranking = grpc_client.rank(request), client.rank(request)
      np.testing.assert_array_equal(ranking.scores, expected.scores)
      assert ranking.top_k == expected.top_k
      assert ranking.model_version == 1


def test_the_rest_client_predicts_as_the_grpc_client(shared_server,
                                                    requests):
  inputs = client_lib.rank_inputs(requests[:2])
  with client_lib.RankingClient(shared_server.target, _MODEL) as grpc_client, (
      rest_client.RestRankingClient(shared_server.rest_target)) as client:
    expected, expected_version = grpc_client.predict(inputs)
    outputs, version = client.predict(inputs)
  assert version == expected_version == 1
  assert sorted(outputs) == sorted(expected)
  for name, value in expected.items():
    assert outputs[name].dtype == value.dtype
    np.testing.assert_array_equal(outputs[name], value)


def test_a_single_output_is_answered_bare(shared_server, requests):
  inputs = client_lib.rank_inputs(requests[:1])
  status, answer, _ = _call(shared_server, "POST", _PREDICT, {
      "signature_name": model_serving.ITEM_EMBEDDING,
      "instances": _columns(inputs)["candidate_item_ids"][0][:3]})
  assert status == 200, answer
  assert np.array(answer["predictions"]).shape[0] == 3


def _bad_bodies(requests, max_candidates):
  good = client_lib.rank_inputs(requests[:1])
  too_many = client_lib.rank_inputs([client_lib.RankRequest(
      user_id="u", query="q",
      candidate_item_ids=[f"i{k}" for k in range(max_candidates + 1)])])
  missing = _columns(good)
  del missing["query"]
  ragged = _rows(client_lib.rank_inputs(requests[:2]))
  ragged[1]["candidate_item_ids"] = ragged[1]["candidate_item_ids"][:5]
  return {
      "unknown model": ("POST", "/v1/models/nope:predict",
                        {"inputs": _columns(good)}, 404,
                        "unknown model 'nope'"),
      "unknown version": ("POST", f"/v1/models/{_MODEL}/versions/99:predict",
                          {"inputs": _columns(good)}, 404,
                          "unknown version 99"),
      "unknown label": ("POST", f"/v1/models/{_MODEL}/labels/canary:predict",
                        {"inputs": _columns(good)}, 400,
                        "unknown version label 'canary'"),
      "version not a number": (
          "POST", f"/v1/models/{_MODEL}/versions/x:predict",
          {"inputs": _columns(good)}, 400,
          "the version in the path must be a number, got 'x'"),
      "unknown signature": ("POST", _PREDICT, {
          "signature_name": "nope", "inputs": _columns(good)}, 400,
                            "unknown signature 'nope'"),
      "bad JSON": ("POST", _PREDICT, b'{"inputs": ', 400,
                   "the body is not valid JSON"),
      "no inputs": ("POST", _PREDICT, {"signature_name": ""}, 400,
                    "the body must have either 'instances'"),
      "missing input": ("POST", _PREDICT, {"inputs": missing}, 400,
                        "missing inputs ['query']"),
      "wrong dtype": ("POST", _PREDICT, {"inputs": {
          **_columns(good), "age_bucket": ["x"]}}, 400,
                      "input 'age_bucket' of signature 'serving_default' "
                      "must be int64, got string"),
      "wrong shape": ("POST", _PREDICT, {"inputs": {
          **_columns(good), "user_id": [["u"]]}}, 400,
                      "'user_id' of signature 'serving_default' must have "
                      "shape [?] (rank 1), got [1, 1]"),
      "ragged rows": ("POST", _PREDICT, {"instances": ragged}, 400,
                      "input 'candidate_item_ids' is not a rectangular "
                      "array"),
      "too many candidates": ("POST", _PREDICT, {"inputs": _columns(
          too_many)}, 400, "2001 candidates in 'candidate_item_ids', more "
                           "than the server's limit of 2000"),
      "classify": ("POST", f"/v1/models/{_MODEL}:classify",
                   {"inputs": _columns(good)}, 501, "classify is not served"),
      "wrong method": ("GET", _PREDICT, None, 405,
                       f"/v1/models/{_MODEL}:predict takes POST, not GET"),
      "post to status": ("POST", f"/v1/models/{_MODEL}", b"{}", 405,
                         "takes GET, not POST"),
      "wrong path": ("POST", "/v1/model/x:predict", b"{}", 404,
                     "no endpoint POST /v1/model/x:predict"),
      "unknown verb": ("POST", f"/v1/models/{_MODEL}:explain", b"{}", 404,
                       "no endpoint POST"),
  }


_BAD_CASES = ("unknown model", "unknown version", "unknown label",
              "version not a number", "unknown signature", "bad JSON",
              "no inputs", "missing input", "wrong dtype", "wrong shape",
              "ragged rows", "too many candidates", "classify",
              "wrong method", "post to status", "wrong path", "unknown verb")


def test_every_bad_request_kind_is_tested(requests):
  assert set(_bad_bodies(requests, 10)) == set(_BAD_CASES)


@pytest.mark.parametrize("case", _BAD_CASES)
def test_bad_requests_get_their_http_status_and_message(shared_server,
                                                        requests, case):
  method, path, body, expected_status, message = _bad_bodies(
      requests, shared_server.max_candidates)[case]
  status, answer, headers = _call(shared_server, method, path, body)
  assert status == expected_status, answer
  assert set(answer) == {"error"} and message in answer["error"]
  if expected_status == 405:
    assert headers["Allow"] in ("GET", "POST")
  # The server keeps serving.
  assert _call(shared_server, "GET", f"/v1/models/{_MODEL}")[0] == 200


def test_status_is_tf_servings_json(shared_server):
  expected = {"model_version_status": [{
      "version": "1", "state": "AVAILABLE",
      "status": {"error_code": "OK", "error_message": ""}}]}
  assert _call(shared_server, "GET", f"/v1/models/{_MODEL}")[:2] == (
      200, expected)
  assert _call(shared_server, "GET",
               f"/v1/models/{_MODEL}/versions/1")[:2] == (200, expected)
  status, answer, _ = _call(shared_server, "GET",
                            f"/v1/models/{_MODEL}/versions/5")
  assert status == 404 and "unknown version 5" in answer["error"]


def test_metadata_has_the_signature_defs(shared_server):
  status, answer, _ = _call(shared_server, "GET",
                            f"/v1/models/{_MODEL}/metadata")
  assert status == 200, answer
  assert answer["model_spec"] == {"name": _MODEL, "version": "1",
                                  "signature_name": ""}
  defs = answer["metadata"]["signature_def"]["signature_def"]
  serving_default = defs[model_serving.SERVING_DEFAULT]
  assert set(serving_default["inputs"]) == {
      "user_id", "query", "gender", "age_bucket", "purchase_power",
      "user_history", "candidate_item_ids"}
  assert serving_default["inputs"]["age_bucket"]["dtype"] == "DT_INT64"
  assert set(serving_default["outputs"]) == {
      model_serving.SCORES, model_serving.TOP_K_INDICES,
      model_serving.TOP_K_SCORES}


def test_new_version_under_load_over_rest_and_batched_grpc_loses_no_request(
    fresh_batched_server, exported, requests):
  """4 REST and 4 gRPC clients of a batching server; version 2 after 4 s."""
  running = fresh_batched_server

  def push():
    serving_testing.push_version(exported.export_dir, running.base_path, 2)
    with client_lib.RankingClient(running.target) as client:
      client.wait_until_available(timeout=60, version=2)
    time.sleep(3)

  make_rest = lambda: rest_client.RestRankingClient(running.rest_target,
                                                    timeout=30)
  make_grpc = lambda: client_lib.RankingClient(running.target, timeout=30)
  results, failures = serving_testing.versions_under_load(
      [make_rest, make_grpc] * 4, requests, push,
      (grpc.RpcError, rest_client.RestError))
  assert not failures
  for versions in results:
    assert versions and versions[0] == 1 and versions[-1] == 2
    assert versions == sorted(versions)
