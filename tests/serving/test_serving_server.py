"""The local server over loopback gRPC: scores, bad requests, metadata, status, version swaps, refusals, shutdown."""

import logging
import os
import shutil
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf

from tensorflow_serving.apis import prediction_service_pb2_grpc

from models import serving as model_serving
from serving import client as client_lib
from serving import constants
from serving import tensors
from serving import warmup
from testing import serving as serving_testing

pytestmark = pytest.mark.slow

_MODEL = constants.DEFAULT_MODEL_NAME
_NUM_CANDIDATES = 1_000


@pytest.fixture(scope="module")
def requests(exported):
  return serving_testing.sample_requests(exported.logs_dir, 4,
                                         _NUM_CANDIDATES)


def _client(running, **kwargs):
  return client_lib.RankingClient(running.target, _MODEL,
                                  **kwargs)


def _code(call):
  with pytest.raises(grpc.RpcError) as error:
    call()
  return error.value.code(), error.value.details()


def test_scores_match_the_savedmodel_called_in_process(shared_server,
                                                       exported, requests):
  inputs = client_lib.rank_inputs(requests)
  serve = tf.saved_model.load(exported.export_dir).signatures[
      model_serving.SERVING_DEFAULT]
  expected = {k: v.numpy() for k, v in serve(
      **{k: tf.constant(v) for k, v in inputs.items()}).items()}
  with _client(shared_server) as client:
    outputs, version = client.predict(inputs)
    rankings = client.rank_batch(requests)
  assert version == 1
  assert set(outputs) == set(expected)
  for name in expected:
    np.testing.assert_array_equal(outputs[name], expected[name])
  for row, (request, ranking) in enumerate(zip(requests, rankings)):
    np.testing.assert_array_equal(ranking.scores, expected["scores"][row])
    assert ranking.top_k[0] == (
        request.candidate_item_ids[expected["top_k_indices"][row, 0]],
        pytest.approx(float(expected["top_k_scores"][row, 0])))
    assert len(ranking.top_k) == 100


def _bad_requests(requests, max_candidates):
  """(case, client kwargs, predict kwargs) of each bad request kind."""
  good = client_lib.rank_inputs(requests[:1])
  too_many = [client_lib.RankRequest(
      user_id="u", query="q",
      candidate_item_ids=[f"i{k}" for k in range(max_candidates + 1)])]
  missing = dict(good)
  del missing["query"]
  return [
      ("unknown model", dict(model_name="nope"), dict(inputs=good)),
      ("unknown version", dict(version=99), dict(inputs=good)),
      ("unknown label", dict(version_label="canary"), dict(inputs=good)),
      ("unknown signature", {}, dict(inputs=good, signature_name="nope")),
      ("missing input", {}, dict(inputs=missing)),
      ("extra input", {}, dict(inputs={**good, "price": np.array([1.0])})),
      ("wrong dtype", {}, dict(inputs={
          **good, "age_bucket": good["age_bucket"].astype(np.int32)})),
      ("wrong shape", {}, dict(inputs={
          **good, "user_id": good["user_id"].reshape(1, 1)})),
      ("too many candidates", {},
       dict(inputs=client_lib.rank_inputs(too_many))),
      ("batch sizes differ", {}, dict(inputs={
          **good, "user_id": np.array([b"a", b"b"], dtype=object)})),
      ("history batch differs", {}, dict(inputs={
          **good, "user_history": np.concatenate([good["user_history"]] * 2)
      })),
      ("unknown output", {}, dict(inputs=good, output_filter=["nope"])),
  ]


_EXPECTED_MESSAGE = {
    "unknown model": "unknown model 'nope'",
    "unknown version": "unknown version 99",
    "unknown label": "unknown version label 'canary'",
    "unknown signature": "unknown signature 'nope'",
    "missing input": "missing inputs ['query']",
    "extra input": "unexpected inputs ['price']",
    "wrong dtype": "'age_bucket' of signature 'serving_default' must be int64, "
                   "got int32",
    "wrong shape": "'user_id' of signature 'serving_default' must have shape "
                   "[?] (rank 1), got [1, 1]",
    "too many candidates": "2001 candidates in 'candidate_item_ids', more "
                           "than the server's limit of 2000",
    "batch sizes differ": "batch sizes differ: 'user_id' has 2 where the "
                          "other inputs have 1",
    "history batch differs": "batch sizes differ: 'user_history' has 2",
    "unknown output": "unknown outputs ['nope']",
}


# TF Serving's code for a servable it does not have; the rest are
# INVALID_ARGUMENT.
_NOT_FOUND = ("unknown model", "unknown version")


@pytest.mark.parametrize("case", sorted(_EXPECTED_MESSAGE))
def test_bad_requests_get_their_code_and_message(shared_server, requests,
                                                 case):
  (_, client_kwargs, predict_kwargs), = [
      r for r in _bad_requests(requests, shared_server.max_candidates)
      if r[0] == case]
  model_name = client_kwargs.pop("model_name", _MODEL)
  with client_lib.RankingClient(shared_server.target, model_name,
                                **client_kwargs) as client:
    code, details = _code(lambda: client.predict(**predict_kwargs))
    assert code == (grpc.StatusCode.NOT_FOUND if case in _NOT_FOUND
                    else grpc.StatusCode.INVALID_ARGUMENT), details
    assert _EXPECTED_MESSAGE[case] in details
    # The server keeps serving.
  with _client(shared_server) as client:
    assert client.rank(requests[0]).model_version == 1


@pytest.mark.parametrize("shape, message", [
    ([1, 2000], "input 'candidate_item_ids' has shape [1, 2000] (2000 "
                "values) but holds 1000 values"),
    ([1, -1], "input 'candidate_item_ids' has a negative dimension: "
              "[1, -1]"),
])
def test_malformed_tensors_are_invalid_arguments(shared_server, requests,
                                                 shape, message):
  request = client_lib.predict_request(
      _MODEL, client_lib.rank_inputs(requests[:1]))
  candidates = request.inputs["candidate_item_ids"]
  # As tf.make_tensor_proto writes strings, one value each.
  candidates.CopyFrom(tensors.to_proto(tensors.to_array(candidates)))
  _set_shape(candidates, shape)
  code, details = _predict_raw(shared_server, request)
  assert code == grpc.StatusCode.INVALID_ARGUMENT
  assert details == message


@pytest.mark.parametrize("cut", [0, 1, -1])
def test_string_content_that_does_not_fit_the_shape_is_an_invalid_argument(
    shared_server, requests, cut):
  request = client_lib.predict_request(
      _MODEL, client_lib.rank_inputs(requests[:1]))
  candidates = request.inputs["candidate_item_ids"]
  candidates.CopyFrom(tensors.to_proto(tensors.to_array(candidates),
                                       strings_as_content=True))
  if cut:  # A byte more or fewer than the lengths say.
    candidates.tensor_content = (candidates.tensor_content[:cut] if cut < 0
                                 else candidates.tensor_content + b"x")
  else:  # One string more in the shape than in the content.
    _set_shape(candidates, [1, candidates.tensor_shape.dim[1].size + 1])
  code, details = _predict_raw(shared_server, request)
  assert code == grpc.StatusCode.INVALID_ARGUMENT
  size = candidates.tensor_shape.dim[1].size
  assert details == (
      f"input 'candidate_item_ids' could not be decoded: its "
      f"{len(candidates.tensor_content)} bytes of tensor_content are not "
      f"{size} strings (each length as a varint, then the bytes)")


def _set_shape(proto, shape):
  del proto.tensor_shape.dim[:]
  for size in shape:
    proto.tensor_shape.dim.add().size = size


def _predict_raw(server, request):
  """(code, details) of a PredictRequest sent as it is."""
  with grpc.insecure_channel(server.target) as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    return _code(lambda: stub.Predict(request, timeout=30))


def test_metadata_returns_the_signature_defs(shared_server):
  with _client(shared_server) as client:
    defs = client.signature_defs()
  serving_default = defs[model_serving.SERVING_DEFAULT]
  assert set(serving_default.inputs) == {
      "user_id", "query", "gender", "age_bucket", "purchase_power",
      "user_history", "candidate_item_ids"}
  assert serving_default.inputs["age_bucket"].dtype == tf.int64.as_datatype_enum
  assert set(serving_default.outputs) == {
      model_serving.SCORES, model_serving.TOP_K_INDICES,
      model_serving.TOP_K_SCORES}
  assert {model_serving.QUERY_EMBEDDING,
          model_serving.ITEM_EMBEDDING} <= set(defs)


def test_status_is_the_health_check(shared_server):
  with _client(shared_server) as client:
    assert [(s.version, s.state) for s in client.status()] == [
        (1, "AVAILABLE")]
    assert client.available_version() == 1
  with _client(shared_server, version=5) as client:
    code, details = _code(client.status)
  assert code == grpc.StatusCode.NOT_FOUND and "version 5" in details


def test_waiting_for_an_unknown_model_ends_with_the_servers_answer(
    shared_server):
  with client_lib.RankingClient(shared_server.target, "nope") as client:
    with pytest.raises(TimeoutError, match="last answer: NOT_FOUND: unknown "
                       "model 'nope'; this server serves"):
      client.wait_until_available(timeout=0.3)


def _break_saved_model(path):
  with open(os.path.join(path, "saved_model.pb"), "wb") as f:
    f.write(b"not a SavedModel")


def _drop_variables(path):
  for name in os.listdir(os.path.join(path, "variables")):
    os.remove(os.path.join(path, "variables", name))


def _failing_warmup(path):
  request = client_lib.predict_request(
      _MODEL, {"user_id": np.array([b"u"], dtype=object)})
  model_serving.write_warmup_requests(path, [request])


def _push_broken(exported, base_path, version, breaker):
  staging = os.path.join(os.path.dirname(base_path), f"staging-{version}")
  serving_testing.push_version(exported.export_dir, staging, version)
  breaker(os.path.join(staging, str(version)))
  os.rename(os.path.join(staging, str(version)),
            os.path.join(base_path, str(version)))


def _wait_for_state(client, version, state, timeout=60.0):
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    states = {s.version: s for s in client.status()}
    if version in states and states[version].state == state:
      return states[version]
    time.sleep(0.1)
  raise AssertionError(f"version {version} not {state}: {client.status()}")


@pytest.mark.parametrize("breaker", [_break_saved_model, _drop_variables,
                                     _failing_warmup])
def test_a_broken_version_is_refused_and_the_old_keeps_serving(
    fresh_server, exported, requests, breaker):
  _push_broken(exported, fresh_server.base_path, 2, breaker)
  with _client(fresh_server) as client:
    refused = _wait_for_state(client, 2, "END")
    assert refused.error_message and refused.error_code != 0
    assert {s.version: s.state for s in client.status()}[1] == "AVAILABLE"
    assert client.rank(requests[0]).model_version == 1


def test_a_refused_version_is_retried_once_its_files_change(
    fresh_server, exported, requests):
  _push_broken(exported, fresh_server.base_path, 2, _drop_variables)
  variables = os.path.join(exported.export_dir, "variables")
  with _client(fresh_server) as client:
    _wait_for_state(client, 2, "END")
    for name in os.listdir(variables):  # The pusher finishes writing it.
      shutil.copy(os.path.join(variables, name),
                  os.path.join(fresh_server.base_path, "2", "variables"))
    _wait_for_state(client, 2, "AVAILABLE")
    assert client.rank(requests[0]).model_version == 2
    assert _wait_for_state(client, 1, "END").error_code == 0


def test_warmup_records_are_replayed(fresh_server, exported, requests,
                                    caplog):
  staging = os.path.join(os.path.dirname(fresh_server.base_path), "staging")
  path = serving_testing.push_version(exported.export_dir, staging, 2)
  model_serving.write_warmup_requests(path, [client_lib.predict_request(
      _MODEL, client_lib.rank_inputs(requests[:2]))] * 2)
  assert len(warmup.read(os.path.join(path, model_serving.WARMUP_FILE))) == 2
  os.rename(path, os.path.join(fresh_server.base_path, "2"))
  with caplog.at_level(logging.INFO, logger="serving.manager"), _client(
      fresh_server) as client:
    assert client.wait_until_available(timeout=60, version=2) == 2
  assert "(2 warmup requests)" in caplog.text


def test_without_warmup_records_each_signature_is_called_once(
    fresh_server, exported, caplog):
  staging = os.path.join(os.path.dirname(fresh_server.base_path), "staging")
  path = serving_testing.push_version(exported.export_dir, staging, 2)
  shutil.rmtree(os.path.join(path, "assets.extra"), ignore_errors=True)
  os.rename(path, os.path.join(fresh_server.base_path, "2"))
  with caplog.at_level(logging.INFO, logger="serving.manager"), _client(
      fresh_server) as client:
    assert client.wait_until_available(timeout=60, version=2) == 2
  assert "version 2 loaded and warmed up" in caplog.text
  assert "(3 warmup requests)" in caplog.text  # The three signatures.


def test_new_version_under_load_loses_no_request(fresh_server, exported,
                                                 requests):
  """8 clients for 20 s; version 2 is pushed after 5 s."""

  def push():
    serving_testing.push_version(exported.export_dir, fresh_server.base_path,
                                 2)
    time.sleep(15)

  results, failures = serving_testing.versions_under_load(
      [lambda: _client(fresh_server, timeout=30)] * 8, requests, push,
      (grpc.RpcError,), before_seconds=5)
  assert not failures
  for versions in results:
    assert versions and versions[0] == 1 and versions[-1] == 2
    # Once a client got version 2, it never got version 1 again.
    assert versions == sorted(versions)
  with _client(fresh_server) as client:
    assert [(s.version, s.state) for s in client.status()] == [
        (2, "AVAILABLE"), (1, "END")]


def test_deleting_the_served_version_while_a_newer_loads_fails_no_request(
    fresh_server, exported, requests):
  """4 clients; version 2 is pushed and version 1's folder deleted at once.

  Version 1 keeps answering from memory while version 2 loads: a request
  reads no file.
  """
  stop = threading.Event()
  deleted = threading.Event()
  answered_after_delete = []
  failures = []

  def send(i):
    with _client(fresh_server, timeout=30) as client:
      while not stop.is_set():
        after_delete = deleted.is_set()
        try:
          version = client.rank(requests[i % len(requests)]).model_version
        except grpc.RpcError as e:
          failures.append((e.code(), e.details()))
          continue
        if after_delete:
          answered_after_delete.append(version)

  threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
  for t in threads:
    t.start()
  time.sleep(2)
  serving_testing.push_version(exported.export_dir, fresh_server.base_path,
                               2)
  shutil.rmtree(os.path.join(fresh_server.base_path, "1"))
  deleted.set()
  with _client(fresh_server) as client:
    assert client.wait_until_available(timeout=60, version=2) == 2
  time.sleep(1)
  stop.set()
  for t in threads:
    t.join()
  assert not failures
  assert 1 in answered_after_delete and 2 in answered_after_delete


def test_stop_refuses_new_calls_and_finishes_those_in_flight(
    fresh_server, requests, monkeypatch):
  servable = fresh_server.server.manager.model(_MODEL).servable()
  entered = threading.Event()
  real_run = servable.run

  def slow_run(*args, **kwargs):
    entered.set()
    time.sleep(1.0)
    return real_run(*args, **kwargs)

  monkeypatch.setattr(servable, "run", slow_run)
  request = client_lib.predict_request(
      _MODEL, client_lib.rank_inputs(requests[:1]))
  with grpc.insecure_channel(fresh_server.target) as channel, _client(
      fresh_server) as client:
    in_flight = prediction_service_pb2_grpc.PredictionServiceStub(
        channel).Predict.future(request, timeout=30)
    assert entered.wait(10)
    stopping = threading.Thread(target=fresh_server.server.stop,
                                kwargs=dict(grace_seconds=30))
    stopping.start()
    time.sleep(0.2)
    code, _ = _code(lambda: client.rank(requests[0]))
    assert code == grpc.StatusCode.UNAVAILABLE
    assert in_flight.result().model_spec.version.value == 1
    stopping.join()


def test_deleting_the_last_version_is_logged_as_a_warning(fresh_server,
                                                          requests, caplog):
  with caplog.at_level(logging.WARNING, logger="serving.manager"):
    shutil.rmtree(os.path.join(fresh_server.base_path, "1"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(
        "no version left to serve" in r.getMessage() for r in caplog.records):
      time.sleep(0.1)
  (record,) = [r for r in caplog.records
               if "no version left to serve" in r.getMessage()]
  assert record.levelno == logging.WARNING
  assert fresh_server.base_path in record.getMessage()
  with _client(fresh_server) as client:
    code, _ = _code(lambda: client.rank(requests[0]))
  assert code == grpc.StatusCode.UNAVAILABLE
