"""Server-side batching on the local server: batched answers equal unbatched ones, per request.

Equal up to float32 rounding: the model's matrix products over a batch of
rows round a few scores differently (by about 1e-6) than over one row.
"""

import os
import threading

import numpy as np
import pytest

from models import serving as model_serving
from serving import client as client_lib
from serving import constants
from serving import rest_client
from serving import servable as servable_lib
from serving import signature as signature_lib
from serving import tensors
from serving import warmup
from testing import serving as serving_testing

pytestmark = pytest.mark.slow

_MODEL = constants.DEFAULT_MODEL_NAME


@pytest.fixture(scope="module")
def mixed_requests(exported):
  """16 requests of 5 to 1,500 candidates and histories of 0 to 7 items."""
  sizes = [5, 1500, 40, 99, 100, 101, 700, 1, 250, 1000, 3, 64, 128, 900,
           17, 333]
  base = serving_testing.sample_requests(exported.logs_dir, len(sizes), 1500)
  return [client_lib.RankRequest(
      user_id=r.user_id, query=r.query,
      candidate_item_ids=r.candidate_item_ids[:n],
      user_history=(list(r.user_history) * 8)[:i % 8],
      age_bucket=r.age_bucket, purchase_power=r.purchase_power,
      gender=r.gender) for i, (r, n) in enumerate(zip(base, sizes))]


def _record_batches(monkeypatch, running):
  """The rows of each batched call of the server's serving_default."""
  signature = running.server.manager.model(_MODEL).servable().signature(
      model_serving.SERVING_DEFAULT)
  rows = []
  real_call_batch = signature.call_batch

  def call_batch(requests, output_filter=()):
    rows.append(sum(r["user_id"].tensor_shape.dim[0].size for r in requests))
    return real_call_batch(requests, output_filter)

  monkeypatch.setattr(signature, "call_batch", call_batch)
  return rows


def _concurrently(call, items):
  results = [None] * len(items)
  barrier = threading.Barrier(len(items))

  def send(i):
    barrier.wait()
    results[i] = call(i, items[i])

  threads = [threading.Thread(target=send, args=(i,))
             for i in range(len(items))]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  return results


def _assert_same(batched, unbatched, requests):
  """Same scores, and top Ks of the same length, scores and ranking."""
  for got, expected, request in zip(batched, unbatched, requests):
    assert got.scores.shape == expected.scores.shape
    np.testing.assert_allclose(got.scores, expected.scores, rtol=1e-5,
                               atol=1e-5)
    assert len(got.top_k) == len(expected.top_k)
    np.testing.assert_allclose([s for _, s in got.top_k],
                               [s for _, s in expected.top_k], rtol=1e-5,
                               atol=1e-5)
    # Each item is ranked by its own score: ties aside, the same items.
    score_of = dict(zip(request.candidate_item_ids, expected.scores))
    np.testing.assert_allclose([score_of[i] for i, _ in got.top_k],
                               [s for _, s in got.top_k], rtol=1e-5,
                               atol=1e-5)


def test_batched_grpc_answers_equal_unbatched_ones(
    shared_server, batched_server, mixed_requests, monkeypatch):
  with client_lib.RankingClient(shared_server.target) as client:
    unbatched = [client.rank(r) for r in mixed_requests]
  rows = _record_batches(monkeypatch, batched_server)
  clients = [client_lib.RankingClient(batched_server.target)
             for _ in mixed_requests]
  batched = _concurrently(lambda i, r: clients[i].rank(r), mixed_requests)
  for client in clients:
    client.close()
  assert max(rows) > 1, rows  # Requests did meet in batches...
  assert max(rows) <= 8 and sum(rows) == len(mixed_requests)  # ...of <= 8.
  _assert_same(batched, unbatched, mixed_requests)
  for ranking, request in zip(batched, mixed_requests):
    assert len(ranking.scores) == len(request.candidate_item_ids)
    assert len(ranking.top_k) == min(100, len(request.candidate_item_ids))


def test_batched_rest_answers_equal_unbatched_ones(
    shared_server, batched_server, mixed_requests, monkeypatch):
  with client_lib.RankingClient(shared_server.target) as client:
    unbatched = [client.rank(r) for r in mixed_requests[:8]]
  rows = _record_batches(monkeypatch, batched_server)
  clients = [rest_client.RestRankingClient(batched_server.rest_target)
             for _ in range(8)]
  batched = _concurrently(lambda i, r: clients[i].rank(r),
                          mixed_requests[:8])
  for client in clients:
    client.close()
  assert max(rows) > 1, rows
  _assert_same(batched, unbatched, mixed_requests[:8])


def test_a_call_of_several_requests_is_batched_with_others(
    shared_server, batched_server, mixed_requests):
  pairs = [mixed_requests[i:i + 2] for i in range(0, 8, 2)]
  with client_lib.RankingClient(shared_server.target) as client:
    unbatched = [client.rank_batch(p) for p in pairs]
  clients = [client_lib.RankingClient(batched_server.target) for _ in pairs]
  batched = _concurrently(lambda i, p: clients[i].rank_batch(p), pairs)
  for client in clients:
    client.close()
  for got, expected, pair in zip(batched, unbatched, pairs):
    _assert_same(got, expected, pair)


def _record_merged_calls(monkeypatch):
  """(signature, its requests' inputs) of every merged call, any servable."""
  calls = []
  real_call_batch = signature_lib.Signature.call_batch

  def call_batch(self, requests, output_filter=()):
    calls.append((self.name, [dict(r) for r in requests]))
    return real_call_batch(self, requests, output_filter)

  monkeypatch.setattr(signature_lib.Signature, "call_batch", call_batch)
  return calls


@pytest.mark.parametrize("batching", [False, True])
def test_warmup_runs_merged_calls_when_the_server_batches(
    exported, monkeypatch, batching):
  calls = _record_merged_calls(monkeypatch)
  servable = servable_lib.Servable(1, exported.export_dir)
  records = warmup.read(os.path.join(exported.export_dir,
                                     model_serving.WARMUP_FILE))
  assert warmup.run(servable, batching) == len(records)
  first = dict(records[0].inputs)
  assert records[0].model_spec.signature_name == model_serving.SERVING_DEFAULT
  # A batch of the first record, then of two copies of it.
  assert calls == ([(model_serving.SERVING_DEFAULT, [first]),
                    (model_serving.SERVING_DEFAULT, [first, first])]
                   if batching else [])


def test_without_records_warmup_merges_smoke_requests_of_each_signature(
    exported, tmp_path, monkeypatch):
  path = serving_testing.push_version(exported.export_dir, str(tmp_path), 1)
  os.remove(os.path.join(path, model_serving.WARMUP_FILE))
  calls = _record_merged_calls(monkeypatch)
  servable = servable_lib.Servable(1, path)
  assert warmup.run(servable, batching=True) == len(servable.signatures)
  batchable = sorted(name for name, s in servable.signatures.items()
                     if s.batchable)
  assert batchable == sorted(servable.signatures)  # The model's are.
  assert sorted((name, len(inputs)) for name, inputs in calls) == sorted(
      (name, n) for name in batchable for n in (1, 2))
  for name, inputs in calls:
    smoke = servable.signatures[name].smoke_inputs()
    for request in inputs:
      assert sorted(request) == sorted(smoke)
      for key, proto in request.items():
        np.testing.assert_array_equal(tensors.to_array(proto),
                                      smoke[key].numpy())


def test_a_batching_server_warms_the_merged_call_of_a_new_version(
    fresh_batched_server, exported, monkeypatch):
  calls = _record_merged_calls(monkeypatch)
  staging = os.path.join(os.path.dirname(fresh_batched_server.base_path),
                         "staging")
  path = serving_testing.push_version(exported.export_dir, staging, 2)
  os.rename(path, os.path.join(fresh_batched_server.base_path, "2"))
  with client_lib.RankingClient(fresh_batched_server.target) as client:
    assert client.wait_until_available(timeout=60, version=2) == 2
  # No request was sent: these are version 2's warmup.
  assert [(name, len(inputs)) for name, inputs in calls] == [
      (model_serving.SERVING_DEFAULT, 1), (model_serving.SERVING_DEFAULT, 2)]
