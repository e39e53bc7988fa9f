"""Server-side batching: concurrent calls with the same key queued and run as one batch.

As TF Serving's batch scheduler does: a call joins the open batch of its key
(model version and signature) until the batch holds `max_batch_size` rows;
a batch runs once it is full or its first call waited `batch_timeout_micros`,
on one of `num_batch_threads` threads; a call that would open a batch while
`max_enqueued_batches` batches wait is refused (the server answers
UNAVAILABLE). Plain Python: the function that runs a batch is given.
"""

import collections
import dataclasses
import os
import threading
import time
from typing import (Any, Callable, Deque, Dict, Hashable, List, Optional,
                    Sequence)


class QueueFullError(Exception):
  """Too many batches wait: the call is refused (UNAVAILABLE)."""


class TaskTooLargeError(Exception):
  """A call has more rows than a batch may hold (INVALID_ARGUMENT)."""


class StoppedError(Exception):
  """The batcher was stopped: no call is accepted (UNAVAILABLE)."""


@dataclasses.dataclass(frozen=True)
class Parameters:
  """TF Serving's BatchingParameters, with its defaults for omitted fields.

  Attributes:
    max_batch_size: rows (first-dimension entries) a batch holds at most.
    batch_timeout_micros: how long a batch's first call waits for others.
    num_batch_threads: batches run at the same time.
    max_enqueued_batches: batches that may wait; beyond, calls are refused.
  """

  max_batch_size: int = 1000
  batch_timeout_micros: int = 0
  num_batch_threads: int = os.cpu_count() or 1
  max_enqueued_batches: int = 10

  def __post_init__(self):
    for field in dataclasses.fields(self):
      value = getattr(self, field.name)
      minimum = 0 if field.name == "batch_timeout_micros" else 1
      if value < minimum:
        raise ValueError(f"{field.name} must be at least {minimum}, got "
                         f"{value}")


# run(key, payloads) -> one result per payload, in order.
RunFunction = Callable[[Hashable, List[Any]], Sequence[Any]]


class _Task:
  """One call waiting for its result."""

  def __init__(self, payload: Any, size: int):
    self.payload = payload
    self.size = size
    self.done = threading.Event()
    self.result: Any = None
    self.error: Optional[BaseException] = None


@dataclasses.dataclass(eq=False)
class _Batch:
  key: Hashable
  opened: float
  tasks: List[_Task] = dataclasses.field(default_factory=list)
  size: int = 0
  full: bool = False


class Batcher:
  """Queues calls by key and runs them in batches on its own threads.

  A batch whose run raises is run again one call at a time, so a call that
  fails (e.g. a model's own check) fails alone and the others get their
  results; each call's error is raised in its caller.

  Args:
    run: `run(key, payloads)`, the results of one batch, one per payload.
    parameters: the batching parameters.
  """

  def __init__(self, run: RunFunction, parameters: Parameters):
    self._run = run
    self.parameters = parameters
    self._timeout = parameters.batch_timeout_micros / 1e6
    self._cond = threading.Condition()
    self._queue: Deque[_Batch] = collections.deque()
    self._open: Dict[Hashable, _Batch] = {}
    self._stopped = False
    self._threads = [
        threading.Thread(target=self._work, name=f"batch-{i}", daemon=True)
        for i in range(parameters.num_batch_threads)]
    for thread in self._threads:
      thread.start()

  def submit(self, key: Hashable, payload: Any, size: int = 1) -> Any:
    """Runs `payload` (of `size` rows) in a batch of its key; its result.

    Raises:
      TaskTooLargeError: `size` is above max_batch_size.
      QueueFullError: max_enqueued_batches batches wait already.
      StoppedError: the batcher is stopped.
      Exception: what the run function raised for this payload.
    """
    limit = self.parameters.max_batch_size
    if size > limit:
      raise TaskTooLargeError(
          f"a call of {size} rows is larger than the maximum batch size "
          f"{limit}")
    task = _Task(payload, size)
    with self._cond:
      if self._stopped:
        raise StoppedError("the server is stopping")
      batch = self._open.get(key)
      if batch is None or batch.size + size > limit:
        if len(self._queue) >= self.parameters.max_enqueued_batches:
          raise QueueFullError(
              f"the batch queue is full ({len(self._queue)} batches wait, "
              f"max_enqueued_batches "
              f"{self.parameters.max_enqueued_batches}): retry later")
        if batch is not None:
          batch.full = True
        batch = _Batch(key, time.monotonic())
        self._open[key] = batch
        self._queue.append(batch)
      batch.tasks.append(task)
      batch.size += size
      if batch.size == limit:
        batch.full = True
        del self._open[key]
      self._cond.notify()
    task.done.wait()
    if task.error is not None:
      raise task.error
    return task.result

  def _next_batch(self) -> Optional[_Batch]:
    """The oldest batch ready to run, waiting for one; None once stopped."""
    with self._cond:
      while True:
        now = time.monotonic()
        wait = None
        for batch in self._queue:
          deadline = batch.opened + self._timeout
          if batch.full or self._stopped or deadline <= now:
            self._queue.remove(batch)
            if self._open.get(batch.key) is batch:
              del self._open[batch.key]
            return batch
          wait = deadline - now if wait is None else min(wait,
                                                         deadline - now)
        if self._stopped:
          return None
        self._cond.wait(wait)

  def _work(self) -> None:
    while True:
      batch = self._next_batch()
      if batch is None:
        return
      self._run_batch(batch)

  def _run_batch(self, batch: _Batch) -> None:
    tasks = batch.tasks
    try:
      results = list(self._run(batch.key, [t.payload for t in tasks]))
      if len(results) != len(tasks):
        raise RuntimeError(f"the run function returned {len(results)} "
                           f"results for {len(tasks)} calls")
    # Delivered to the callers, who raise it; none is lost.
    except Exception as e:  # pylint: disable=broad-except
      if len(tasks) > 1:
        for task in tasks:  # One at a time: each call gets its own outcome.
          self._run_batch(_Batch(batch.key, batch.opened, [task], task.size))
        return
      tasks[0].error = e
    else:
      for task, result in zip(tasks, results):
        task.result = result
    for task in tasks:
      task.done.set()

  def stop(self) -> None:
    """Refuses new calls, runs the queued batches, then ends the threads."""
    with self._cond:
      self._stopped = True
      self._cond.notify_all()
    for thread in self._threads:
      thread.join()
