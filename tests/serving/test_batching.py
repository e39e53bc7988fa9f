"""The batch queue with a fake run function, the batching parameters file, and the outputs of a batch cut back to each request."""

import os
import threading
import time

import grpc
import numpy as np
import pytest

from serving import batched
from serving import batching
from serving import batching_config
from serving import errors
from serving import tensors


_PARAMETERS_FILE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
        __file__)))), "serving", "batching_parameters.txt")


class _Recorder:
  """A run function that records its batches and answers payload * 10."""

  def __init__(self, delay: float = 0.0, fail_on=None):
    self.batches = []
    self._delay = delay
    self._fail_on = fail_on
    self.started = threading.Event()
    self.release = threading.Event()
    self.release.set()

  def __call__(self, key, payloads):
    self.started.set()
    self.release.wait(10)
    time.sleep(self._delay)
    self.batches.append((key, list(payloads)))
    if self._fail_on in payloads:
      raise ValueError(f"payload {self._fail_on} is bad")
    return [p * 10 for p in payloads]


def _submit_all(batcher, calls):
  """Submits (key, payload) calls from threads at once; results or errors."""
  outcomes = [None] * len(calls)
  barrier = threading.Barrier(len(calls))

  def call(i, key, payload):
    barrier.wait()
    try:
      outcomes[i] = batcher.submit(key, payload)
    except Exception as e:  # pylint: disable=broad-except
      outcomes[i] = e

  threads = [threading.Thread(target=call, args=(i, *c))
             for i, c in enumerate(calls)]
  for t in threads:
    t.start()
  for t in threads:
    t.join(30)
  return outcomes


def test_concurrent_calls_of_one_key_run_in_batches_of_at_most_the_max():
  run = _Recorder()
  batcher = batching.Batcher(run, batching.Parameters(
      max_batch_size=4, batch_timeout_micros=200_000, num_batch_threads=1))
  outcomes = _submit_all(batcher, [("k", i) for i in range(8)])
  batcher.stop()
  assert outcomes == [i * 10 for i in range(8)]
  sizes = sorted(len(payloads) for _, payloads in run.batches)
  assert sizes == [4, 4]


def test_keys_are_never_batched_together():
  run = _Recorder()
  batcher = batching.Batcher(run, batching.Parameters(
      max_batch_size=8, batch_timeout_micros=100_000, num_batch_threads=2))
  outcomes = _submit_all(batcher, [("a", 1), ("b", 2), ("a", 3), ("b", 4)])
  batcher.stop()
  assert outcomes == [10, 20, 30, 40]
  assert sorted((key, sorted(p)) for key, p in run.batches) == [
      ("a", [1, 3]), ("b", [2, 4])]


def test_a_lone_call_runs_after_the_timeout():
  run = _Recorder()
  batcher = batching.Batcher(run, batching.Parameters(
      max_batch_size=8, batch_timeout_micros=50_000, num_batch_threads=1))
  start = time.monotonic()
  assert batcher.submit("k", 7) == 70
  waited = time.monotonic() - start
  batcher.stop()
  assert 0.05 <= waited < 5
  assert run.batches == [("k", [7])]


def test_a_failing_call_fails_alone():
  run = _Recorder(fail_on=3)
  batcher = batching.Batcher(run, batching.Parameters(
      max_batch_size=4, batch_timeout_micros=200_000, num_batch_threads=1))
  outcomes = _submit_all(batcher, [("k", i) for i in range(4)])
  batcher.stop()
  assert outcomes[:3] == [0, 10, 20]
  assert isinstance(outcomes[3], ValueError)
  assert str(outcomes[3]) == "payload 3 is bad"


def test_a_full_queue_refuses_calls():
  # One thread, held in its first batch; batches of one call; two may wait.
  run = _Recorder()
  run.release.clear()
  batcher = batching.Batcher(run, batching.Parameters(
      max_batch_size=1, num_batch_threads=1, max_enqueued_batches=2))
  results = []
  threads = [threading.Thread(target=lambda i=i: results.append(
      batcher.submit("k", i))) for i in range(3)]
  threads[0].start()
  assert run.started.wait(10)  # Call 0 runs; calls 1 and 2 wait.
  for t in threads[1:]:
    t.start()
  deadline = time.monotonic() + 10
  queue = batcher._queue  # pylint: disable=protected-access
  while len(queue) < 2 and time.monotonic() < deadline:
    time.sleep(0.01)
  with pytest.raises(batching.QueueFullError, match="queue is full"):
    batcher.submit("k", 3)
  run.release.set()
  for t in threads:
    t.join(10)
  batcher.stop()
  assert sorted(results) == [0, 10, 20]


def test_a_call_larger_than_a_batch_is_refused():
  batcher = batching.Batcher(_Recorder(), batching.Parameters(
      max_batch_size=2, num_batch_threads=1))
  with pytest.raises(batching.TaskTooLargeError, match="3 rows"):
    batcher.submit("k", 1, size=3)
  batcher.stop()


def test_stop_runs_the_queued_calls_then_refuses():
  run = _Recorder(delay=0.05)
  batcher = batching.Batcher(run, batching.Parameters(
      max_batch_size=1, num_batch_threads=1))
  results = []
  threads = [threading.Thread(target=lambda i=i: results.append(
      batcher.submit("k", i))) for i in range(3)]
  for t in threads:
    t.start()
  time.sleep(0.02)
  batcher.stop()
  for t in threads:
    t.join(10)
  assert sorted(results) == [0, 10, 20]
  with pytest.raises(batching.StoppedError):
    batcher.submit("k", 9)


class _SlowSignature:
  """Stands for a Signature: its run blocks until released."""

  def __init__(self):
    self.release = threading.Event()
    self.started = threading.Event()

  def call_batch(self, requests, output_filter=()):
    self.started.set()
    self.release.wait(10)
    return {"scores": np.concatenate([tensors.to_array(
        r["candidate_item_ids"]).astype(np.float32) for r in requests])}


def test_a_full_queue_is_unavailable():
  signature = _SlowSignature()
  batcher = batched.SignatureBatcher(batching.Parameters(
      max_batch_size=1, num_batch_threads=1, max_enqueued_batches=1))
  inputs = {"candidate_item_ids": tensors.to_proto(
      np.array([[1, 2]], np.int64))}
  first = threading.Thread(target=batcher.run, args=(signature, inputs))
  second = threading.Thread(target=batcher.run, args=(signature, inputs))
  first.start()
  assert signature.started.wait(10)
  second.start()  # Waits in the queue: the queue is full.
  deadline = time.monotonic() + 10
  while (not batcher._batcher._queue  # pylint: disable=protected-access
         and time.monotonic() < deadline):
    time.sleep(0.01)
  with pytest.raises(errors.ServingError) as error:
    batcher.run(signature, inputs)
  signature.release.set()
  first.join(10)
  second.join(10)
  batcher.stop()
  assert error.value.code == grpc.StatusCode.UNAVAILABLE
  assert "queue is full" in error.value.message


def test_split_cuts_candidate_and_top_k_axes_back_to_each_request():
  requests = [{"candidate_item_ids": [1, 2]}, {"candidate_item_ids": [2, 5]}]
  outputs = {  # A top K of at most 3: min(5, 3) in the batch.
      "scores": np.arange(15.0).reshape(3, 5),
      "top_k": np.arange(9).reshape(3, 3),
      "embedding": np.arange(12).reshape(3, 4)}
  first, second = batched.split(outputs, requests)
  assert first["scores"].tolist() == [[0.0, 1.0]]
  assert first["top_k"].tolist() == [[0, 1]]  # min(2, 3)
  assert first["embedding"].tolist() == [[0, 1]]  # Shorter: cut as a top K.
  assert second["scores"].tolist() == [[5.0, 6.0, 7.0, 8.0, 9.0],
                                       [10.0, 11.0, 12.0, 13.0, 14.0]]
  assert second["top_k"].tolist() == [[3, 4, 5], [6, 7, 8]]


def test_split_without_candidates_only_splits_rows():
  requests = [{"item_ids": [1]}, {"item_ids": [2]}]
  first, second = batched.split({"emb": np.arange(6).reshape(3, 2)},
                                requests)
  assert first["emb"].tolist() == [[0, 1]]
  assert second["emb"].tolist() == [[2, 3], [4, 5]]


def test_the_parameters_file_of_the_deployment_parses():
  assert batching_config.read(_PARAMETERS_FILE) == (
      batching.Parameters(max_batch_size=16, batch_timeout_micros=2000,
                          num_batch_threads=4, max_enqueued_batches=32))


def test_omitted_parameters_take_tf_servings_defaults():
  parsed = batching_config.parse("max_batch_size { value: 3 }\n"
                                 "pad_variable_length_inputs: true\n"
                                 "allowed_batch_sizes: 3")
  assert parsed == batching.Parameters(max_batch_size=3)
  assert parsed.max_enqueued_batches == 10
  assert parsed.batch_timeout_micros == 0


@pytest.mark.parametrize("text, message", [
    ("max_batch_size: 16", 'Expected "{"'),
    ("max_batch_size { value: 0 }", "max_batch_size must be at least 1"),
    ("batch_size { value: 4 }", 'has no field named "batch_size"'),
    ("num_batch_threads { value: -1 }", "num_batch_threads must be at least 1"),
])
def test_a_bad_parameters_file_is_refused(text, message):
  with pytest.raises(batching_config.BatchingConfigError, match=message):
    batching_config.parse(text)


def test_an_unreadable_parameters_file_is_refused(tmp_path):
  with pytest.raises(batching_config.BatchingConfigError,
                     match="cannot read .*missing"):
    batching_config.read(str(tmp_path / "missing"))
