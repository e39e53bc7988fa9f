"""Signature calls batched across requests: run together, then each request's outputs cut back.

Requests batched together may differ in their candidate count N and
history length H. `Signature.call_batch` pads every input's non-batch axes
to the batch's longest ("" for strings, which the coarse ranker scores -inf
and ranks last; 0 for numbers) and concatenates the requests along the batch
axis, inside TensorFlow; `split` gives each request its rows of the outputs,
cut back to its own size: an output axis as long as the batch's candidate
axis is the candidates' (cut to the request's N), a shorter one a top K (cut
to min(N, K)). So each request gets what it would get unbatched.
"""

from typing import Dict, Hashable, List, Mapping, Optional, Sequence

import numpy as np
from tensorflow.core.framework import tensor_pb2

from serving import batching
from serving import errors
from serving import signature as signature_lib
from serving import tensors as tensors_lib

Arrays = Mapping[str, np.ndarray]
# A request's input tensors, checked (Signature.check_values).
Tensors = Mapping[str, tensor_pb2.TensorProto]
# A request's input shapes, by name.
Shapes = Mapping[str, Sequence[int]]


def shapes(tensors: Tensors) -> Dict[str, List[int]]:
  """The shape of each of a request's tensors."""
  return {name: tensors_lib.shape(proto) for name, proto in tensors.items()}


def rows(tensors: Tensors) -> int:
  """A request's batch size (its inputs' first dimension, checked equal)."""
  return tensors_lib.shape(next(iter(tensors.values())))[0]


def _cut(size: int, padded: Optional[int], own: Optional[int]) -> int:
  """An output axis' length for one request (see the module docstring)."""
  if padded is None or size > padded:
    return size
  return own if size == padded else min(own, size)


def split(outputs: Arrays, requests: Sequence[Shapes],
          candidates: Optional[str] = signature_lib.CANDIDATES_INPUT
          ) -> List[Dict[str, np.ndarray]]:
  """Each request's rows of the batch's outputs, cut back to its size.

  Args:
    outputs: the outputs of the merged requests.
    requests: the shapes of the requests' inputs, in the order they were
      merged.
    candidates: the input whose last axis is the candidates; outputs are cut
      only along axes related to it (none if the requests lack it).
  """
  if len(requests) == 1:
    return [dict(outputs)]
  has_candidates = candidates in requests[0]
  padded = (max(r[candidates][-1] for r in requests)
            if has_candidates else None)
  out, start = [], 0
  for request in requests:
    end = start + next(iter(request.values()))[0]
    own = request[candidates][-1] if has_candidates else None
    out.append({
        name: value[(slice(start, end),) + tuple(
            slice(0, _cut(size, padded, own)) for size in value.shape[1:])]
        for name, value in outputs.items()})
    start = end
  return out


class SignatureBatcher:
  """Batches concurrent calls of the same signature of the same version.

  Args:
    parameters: TF Serving's batching parameters.
  """

  def __init__(self, parameters: batching.Parameters):
    self._batcher = batching.Batcher(self._run, parameters)

  @staticmethod
  def _run(key: Hashable, requests: List[Tensors]
           ) -> List[Dict[str, np.ndarray]]:
    signature, output_filter = key
    outputs = signature.call_batch(requests, output_filter)
    return split(outputs, [shapes(r) for r in requests])

  def run(self, signature: signature_lib.Signature, tensors: Tensors,
          output_filter: Sequence[str] = ()) -> Dict[str, np.ndarray]:
    """Runs checked tensors in a batch of their signature's calls; the outputs.

    Raises:
      errors.ServingError: UNAVAILABLE when the queue is full or the server
        stops; INVALID_ARGUMENT for more rows than max_batch_size.
      tf.errors.OpError: the signature's own checks failed.
    """
    try:
      return self._batcher.submit((signature, tuple(output_filter)),
                                  tensors, rows(tensors))
    except (batching.QueueFullError, batching.StoppedError) as e:
      raise errors.unavailable(str(e)) from e
    except batching.TaskTooLargeError as e:
      raise errors.invalid_argument(str(e)) from e

  def stop(self) -> None:
    """Runs the calls queued, refuses new ones."""
    self._batcher.stop()
