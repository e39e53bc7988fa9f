"""Signature calls batched across requests: merge padded inputs, split and cut the outputs back.

Requests batched together may differ in their candidate count N and
history length H. `merge` pads every input's non-batch axes to the batch's
longest with the padding of models/requests.py ("" for strings, which the
coarse ranker scores -inf and ranks last; 0 for numbers) and concatenates
the requests along the batch axis; `split` gives each request its rows of
the outputs, cut back to its own size: an output axis as long as the
batch's candidate axis is the candidates' (cut to the request's N), a
shorter one a top K (cut to min(N, K)). So each request gets what it would
get unbatched.
"""

from typing import Dict, Hashable, List, Mapping, Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from serving import batching
from serving import errors
from serving import signature as signature_lib

Arrays = Mapping[str, np.ndarray]
# A request's decoded inputs (Signature.decode: arrays, and tensors for
# large string inputs sent as tensor_content).
Inputs = Mapping[str, Union[tf.Tensor, np.ndarray]]


def rows(inputs: Inputs) -> int:
  """A request's batch size (its inputs' first dimension, checked equal)."""
  return next(iter(inputs.values())).shape[0]


def _pad_and_concatenate(values: Sequence[Union[tf.Tensor, np.ndarray]]
                         ) -> Union[tf.Tensor, np.ndarray]:
  """One input of each request padded to the longest and concatenated.

  In TensorFlow if a request holds it as a tensor (a large string input,
  decoded without a Python object per value), else in NumPy.
  """
  longest = np.max([tuple(v.shape[1:]) for v in values], axis=0)
  if any(isinstance(v, tf.Tensor) for v in values):
    values = [tf.convert_to_tensor(v) for v in values]
    pad = tf.constant("" if values[0].dtype == tf.string else 0,
                      values[0].dtype)
    pad_fn, concat_fn = tf.pad, tf.concat
  else:
    pad = b"" if values[0].dtype == object else values[0].dtype.type(0)
    pad_fn, concat_fn = np.pad, np.concatenate
  padded = []
  for value in values:
    missing = [(0, 0)] + [(0, int(m - d)) for m, d in
                          zip(longest, value.shape[1:])]
    if any(after for _, after in missing):
      value = pad_fn(value, missing, constant_values=pad)
    padded.append(value)
  return concat_fn(padded, axis=0)


def merge(requests: Sequence[Inputs]) -> Dict[str, Union[tf.Tensor,
                                                         np.ndarray]]:
  """The requests' inputs as one batch, padded to the longest of each axis."""
  if len(requests) == 1:
    return dict(requests[0])
  return {name: _pad_and_concatenate([r[name] for r in requests])
          for name in requests[0]}


def _cut(size: int, padded: Optional[int], own: Optional[int]) -> int:
  """An output axis' length for one request (see the module docstring)."""
  if padded is None or size > padded:
    return size
  return own if size == padded else min(own, size)


def split(outputs: Arrays, requests: Sequence[Inputs],
          candidates: Optional[str] = signature_lib.CANDIDATES_INPUT
          ) -> List[Dict[str, np.ndarray]]:
  """Each request's rows of the batch's outputs, cut back to its size.

  Args:
    outputs: the outputs of the merged requests.
    requests: the requests, in the order they were merged.
    candidates: the input whose last axis is the candidates; outputs are cut
      only along axes related to it (none if the requests lack it).
  """
  if len(requests) == 1:
    return [dict(outputs)]
  has_candidates = candidates in requests[0]
  padded = (max(r[candidates].shape[-1] for r in requests)
            if has_candidates else None)
  out, start = [], 0
  for request in requests:
    end = start + rows(request)
    own = request[candidates].shape[-1] if has_candidates else None
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
  def _run(key: Hashable, requests: List[Inputs]
           ) -> List[Dict[str, np.ndarray]]:
    signature, output_filter = key
    outputs = signature.run(merge(requests), output_filter)
    return split(outputs, requests)

  def run(self, signature: signature_lib.Signature, inputs: Inputs,
          output_filter: Sequence[str] = ()) -> Dict[str, np.ndarray]:
    """Runs decoded inputs in a batch of their signature's calls; the outputs.

    Raises:
      errors.ServingError: UNAVAILABLE when the queue is full or the server
        stops; INVALID_ARGUMENT for more rows than max_batch_size.
      tf.errors.OpError: the signature's own checks failed.
    """
    try:
      return self._batcher.submit((signature, tuple(output_filter)), inputs,
                                  rows(inputs))
    except (batching.QueueFullError, batching.StoppedError) as e:
      raise errors.unavailable(str(e)) from e
    except batching.TaskTooLargeError as e:
      raise errors.invalid_argument(str(e)) from e

  def stop(self) -> None:
    """Runs the calls queued, refuses new ones."""
    self._batcher.stop()
