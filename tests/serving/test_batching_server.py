"""Server-side batching on the local server: batched answers equal unbatched ones, per request.

Equal up to float32 rounding: the model's matrix products over a batch of
rows round a few scores differently (by about 1e-6) than over one row.
"""

import threading

import numpy as np
import pytest

from models import serving as model_serving
from serving import client as client_lib
from serving import config as config_lib
from serving import rest_client
from testing import serving as serving_testing

pytestmark = pytest.mark.slow

_MODEL = config_lib.DEFAULT_MODEL_NAME


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
