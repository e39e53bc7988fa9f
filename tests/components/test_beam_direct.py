"""Tests that the FnApiRunner's data plane keeps every byte of a bundle's input sent to a worker process."""

import queue
import time

from apache_beam.runners.portability.fn_api_runner import worker_handlers
from apache_beam.runners.worker import data_plane

from components import beam_direct

CHUNK = b"x" * 1000


class _WriteDuringFlush(queue.Queue):
  """A send queue that writes one more chunk when data is flushed mid-write.

  This is what the runner's writing thread does when it runs between a
  flush's `get()` and `_clear()` (the put releases the GIL). Puts from
  `close()` write nothing: the writer is done by then.
  """

  def __init__(self):
    super().__init__()
    self.stream = None
    self.closing = False
    self.written = 0

  def write(self, chunk):
    self.stream.write(chunk)
    self.written += len(chunk)

  def put(self, item, block=True, timeout=None):
    if item.data and not self.closing:
      self.write(CHUNK)
    super().put(item, block, timeout)


def _bytes_sent(channel):
  sent = 0
  while not channel._to_send.empty():
    sent += len(channel._to_send.get_nowait().data)
  return sent


def test_runner_input_stream_keeps_chunks_written_while_it_would_flush():
  beam_direct.use_size_based_runner_flush()
  channel = data_plane._GrpcDataChannel(  # pylint: disable=protected-access
      worker_handlers.DATA_BUFFER_TIME_LIMIT_MS)
  sends = _WriteDuringFlush()
  channel._to_send = sends  # pylint: disable=protected-access
  sends.stream = channel.output_stream("bundle_1", "Read")
  sends.write(CHUNK)
  # Longer than the 1 s period of Beam's time-based flush.
  time.sleep(1.5)
  sends.write(CHUNK)
  sends.closing = True
  sends.stream.close()
  assert _bytes_sent(channel) == sends.written


def test_runner_streams_are_size_based():
  beam_direct.use_size_based_runner_flush()
  servicer = data_plane.BeamFnDataServicer(
      worker_handlers.DATA_BUFFER_TIME_LIMIT_MS)
  stream = servicer.get_conn_by_worker_id("worker_0").output_stream(
      "bundle_1", "Read")
  assert not isinstance(stream,
                        data_plane.TimeBasedBufferingClosableOutputStream)
  stream.close()
