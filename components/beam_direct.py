"""Keeps Beam's local FnApiRunner (DirectRunner with worker processes) from dropping bundle input."""

from apache_beam.runners.portability.fn_api_runner import worker_handlers


def use_size_based_runner_flush() -> None:
  """Removes the time-based flush of the FnApiRunner's gRPC data plane, process-wide.

  Beam 2.59's FnApiRunner serves the data plane of its worker processes
  (`--direct_running_mode=multi_processing` or `multi_threading`) with
  `worker_handlers.DATA_BUFFER_TIME_LIMIT_MS` = 1000, so every stream it
  opens to send a bundle's input to a worker is a
  `data_plane.TimeBasedBufferingClosableOutputStream`. Its flusher thread
  calls `flush()` (`get()`, hand the bytes over, `_clear()`) every second
  while the runner's main thread is still `write()`-ing the input chunks
  without the stream's lock; chunks written between `get()` and `_clear()`
  are dropped, and the worker processes the rest of the bundle as if it were
  complete. Writing one worker's share takes over a second once a stage's
  input is a few hundred MB (the listwise stage at 100k requests), so whole
  chunks of a stage's input went missing intermittently.

  With the constant at 0 the stream is a
  `SizeBasedBufferingClosableOutputStream`, which has no flusher thread. The
  runner writes a bundle's input into it at once and never asks it for a
  size-based flush, so the whole input goes to the worker as one message
  when the runner closes the stream: nothing is lost, at the cost of one
  more copy of a worker's share of the input while it is sent (a share
  must stay under protobuf's 2 GiB message limit). Call before a pipeline
  runs; the constant is read when the runner starts its worker servers.
  The in-memory runner does not use this data plane and is unaffected.
  """
  worker_handlers.DATA_BUFFER_TIME_LIMIT_MS = 0
