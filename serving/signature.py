"""One signature of a loaded SavedModel: checks request tensors against it and runs it."""

import collections
import math
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2

from serving import errors
from serving import tensors as tensors_lib

# The input of the coarse ranker's serving_default whose last axis is the
# candidate list (models/serving.py); the server's candidate limit applies
# to it.
CANDIDATES_INPUT = "candidate_item_ids"


_STRING = tf.string.as_datatype_enum


def _numpy(results: Mapping[str, tf.Tensor], names: Sequence[str]
           ) -> Dict[str, np.ndarray]:
  return {name: results[name].numpy() for name in names}


def _dtype_name(enum: int) -> str:
  try:
    return tf.dtypes.as_dtype(enum).name
  except TypeError:
    return f"unknown dtype {enum}"


def _shape_text(shape: Sequence[Optional[int]]) -> str:
  return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _num_values(proto: tensor_pb2.TensorProto, dtype: tf.DType
                ) -> Optional[int]:
  """Values a TensorProto holds; None if its bytes are not whole values."""
  if proto.tensor_content:
    if not dtype.size or len(proto.tensor_content) % dtype.size:
      return None
    return len(proto.tensor_content) // dtype.size
  count = sum(len(values) for field, values in proto.ListFields()
              if field.name.endswith("_val"))
  return count // 2 if dtype.is_complex else count  # (real, imag) pairs.


def _check_batch_sizes(shapes: Mapping[str, Sequence[int]]) -> None:
  """Refuses inputs whose first dimensions (the batch) differ, naming them."""
  sizes = {name: shape[0] for name, shape in sorted(shapes.items()) if shape}
  if len(set(sizes.values())) <= 1:
    return
  counts = collections.Counter(sizes.values())
  common = max(counts, key=lambda size: (counts[size], -size))
  odd = [f"{name!r} has {size}" for name, size in sizes.items()
         if size != common]
  raise errors.invalid_argument(
      f"batch sizes differ: {', '.join(odd)} where the other inputs have "
      f"{common} (the first dimension of every input is the batch)")


class Signature:
  """A signature's inputs (name -> TensorSpec), outputs and function.

  What a call needs of the signature's structure (each input's dtype and
  shape, the order of its parameters) is looked up once, here, and the
  functions that parse request tensors and call it (one request, several)
  are traced once.

  Attributes:
    batchable: it has inputs, each with a first axis of any length (the
      batch), so requests can be merged (`call_batch`). An input of rank
      0 or of a fixed first dimension (a model exported for batches of
      exactly N) is not.
  """

  def __init__(self, name: str, function):
    self.name = name
    self.function = function
    _, kwargs = function.structured_input_signature
    self.inputs: Dict[str, tf.TensorSpec] = dict(kwargs)
    self.outputs = tuple(sorted(function.structured_outputs))
    self._dtype_enums = {n: s.dtype.as_datatype_enum
                         for n, s in self.inputs.items()}
    self._shapes = {n: s.shape.as_list() for n, s in self.inputs.items()}
    # The function's flat arguments are its parameters, in their order.
    self._order = list(function.function_type.parameters)
    if sorted(self._order) != sorted(self.inputs):
      raise ValueError(f"signature {name!r}: parameters {self._order} are "
                       f"not its inputs {sorted(self.inputs)}")
    self._parse_and_run = self._parsing_function()
    self.batchable = bool(self._shapes) and all(
        shape and shape[0] is None for shape in self._shapes.values())
    self._padded_spec = self._parse_merge_and_run = None
    if self.batchable:
      self._padded_spec = tf.TensorSpec(
          [len(self._order), max([len(s) - 1 for s in self._shapes.values()]
                                 + [1])], tf.int32, name="padded")
      self._parse_merge_and_run = self._merging_function()

  def _check_input(self, name: str, proto: tensor_pb2.TensorProto,
                   max_candidates: Optional[int]) -> List[int]:
    """Checks an input's dtype, shape, values and size; returns its shape."""
    spec = self.inputs[name]
    if proto.dtype != self._dtype_enums[name]:
      raise errors.invalid_argument(
          f"input {name!r} of signature {self.name!r} must be "
          f"{spec.dtype.name}, got {_dtype_name(proto.dtype)}")
    expected = self._shapes[name]
    if proto.tensor_shape.unknown_rank:
      raise errors.invalid_argument(f"input {name!r} has no shape")
    shape = tensors_lib.shape(proto)
    if any(d < 0 for d in shape):
      raise errors.invalid_argument(
          f"input {name!r} has a negative dimension: {_shape_text(shape)}")
    if len(shape) != len(expected) or any(
        e is not None and e != d for e, d in zip(expected, shape)):
      raise errors.invalid_argument(
          f"input {name!r} of signature {self.name!r} must have shape "
          f"{_shape_text(expected)} (rank {len(expected)}), got "
          f"{_shape_text(shape)}")
    if (name == CANDIDATES_INPUT and max_candidates is not None
        and shape and shape[-1] > max_candidates):
      raise errors.invalid_argument(
          f"{shape[-1]} candidates in {name!r}, more than the server's "
          f"limit of {max_candidates}")
    elements = math.prod(shape)
    if spec.dtype == tf.string and proto.tensor_content:
      return shape  # check_values checks the count.
    values = _num_values(proto, spec.dtype)
    if values != elements:
      held = ("bytes that are not whole values" if values is None
              else f"{values} values")
      raise errors.invalid_argument(
          f"input {name!r} has shape {_shape_text(shape)} ({elements} "
          f"values) but holds {held}")
    return shape

  def check(self, tensors: Mapping[str, tensor_pb2.TensorProto],
            max_candidates: Optional[int] = None) -> None:
    """Checks request tensors against the signature without decoding them.

    String content is checked by `check_values`.

    Raises:
      errors.ServingError: INVALID_ARGUMENT for missing or extra inputs, a
        wrong dtype or shape, a negative dimension, a number of values other
        than the shape's (TensorFlow would repeat the last value to fill
        the shape), batch sizes that differ between inputs, or more than
        `max_candidates` candidates.
    """
    missing = sorted(set(self.inputs) - set(tensors))
    extra = sorted(set(tensors) - set(self.inputs))
    if missing or extra:
      parts = ([f"missing inputs {missing}"] if missing else []) + (
          [f"unexpected inputs {extra}"] if extra else [])
      raise errors.invalid_argument(
          f"{' and '.join(parts)} for signature {self.name!r}, which takes "
          f"{sorted(self.inputs)}")
    _check_batch_sizes({name: self._check_input(name, proto, max_candidates)
                        for name, proto in tensors.items()})

  def check_values(self, tensors: Mapping[str, tensor_pb2.TensorProto],
                   max_candidates: Optional[int] = None) -> None:
    """`check`, then that string content holds its shape's strings.

    Raises:
      errors.ServingError: INVALID_ARGUMENT for what `check` refuses, or a
        tensor that cannot be decoded.
    """
    self.check(tensors, max_candidates)
    for name, proto in tensors.items():
      if proto.dtype == _STRING and proto.tensor_content:
        try:
          tensors_lib.check_string_content(proto)
        except ValueError as e:
          raise errors.invalid_argument(
              f"input {name!r} could not be decoded: {e}") from e

  def call(self, tensors: Mapping[str, tensor_pb2.TensorProto],
           max_candidates: Optional[int] = None,
           output_filter: Sequence[str] = ()) -> Dict[str, np.ndarray]:
    """Checks request tensors (`check_values`) and runs the signature on them.

    The tensors reach TensorFlow serialized, in one call that parses them
    (`tf.io.parse_tensor`, TensorFlow's C++ as in TF Serving) and runs the
    signature: no value passes through Python. Against decoding them in
    Python, then calling the signature: 1.3 against 2.2 ms for 1,000
    candidates, 2.0 against 3.4 ms for 10,000.

    Raises:
      errors.ServingError: INVALID_ARGUMENT for what `check_values` refuses
        or an unknown output name.
      tf.errors.OpError: the signature's own checks, e.g. too many
        candidates for the model.
    """
    self.check_values(tensors, max_candidates)
    self.check_output_filter(output_filter)
    results = self._parse_and_run(tf.constant(
        [tensors[name].SerializeToString() for name in self._order],
        tf.string))  # [num_inputs], also when there are none.
    return _numpy(results, output_filter or self.outputs)

  def call_batch(self, requests: Sequence[Mapping[str, tensor_pb2.TensorProto]],
                 output_filter: Sequence[str] = ()) -> Dict[str, np.ndarray]:
    """Runs the signature once on several checked requests (`check_values`).

    Inside one TensorFlow call, every input of every request is parsed,
    padded on its non-batch axes to the longest of the requests (with ""
    for strings, which the coarse ranker scores -inf and ranks last; 0 for
    numbers) and concatenated along the batch axis, in the requests' order.

    Returns:
      The outputs of the merged batch, `[sum of the requests' rows, ...]`
      (batched.split gives each request its part).

    Raises:
      ValueError: the signature is not `batchable`.
      tf.errors.OpError: the signature's own checks.
    """
    if not self.batchable:
      raise ValueError(f"signature {self.name!r} has inputs without a batch "
                       "axis: its requests cannot be merged")
    padded = np.zeros(self._padded_spec.shape, np.int32)
    for i, name in enumerate(self._order):
      for request in requests:
        dims = tensors_lib.shape(request[name])[1:]
        padded[i, :len(dims)] = np.maximum(padded[i, :len(dims)], dims)
    results = self._parse_merge_and_run(
        tf.constant([[request[name].SerializeToString()
                      for name in self._order] for request in requests]),
        tf.constant(padded))
    return _numpy(results, output_filter or self.outputs)

  def _parse(self, serialized: tf.Tensor, name: str) -> tf.Tensor:
    """An input parsed from its serialized TensorProto, of its rank."""
    spec = self.inputs[name]
    return tf.ensure_shape(tf.io.parse_tensor(serialized, spec.dtype),
                           [None] * len(self._shapes[name]))

  def _parsing_function(self) -> tf.types.experimental.ConcreteFunction:
    """The signature on its inputs' serialized TensorProtos, `[num_inputs]`
    strings in the order of `_order`; parses them, then calls it."""

    @tf.function(input_signature=[
        tf.TensorSpec([len(self._order)], tf.string, name="serialized")])
    def parse_and_run(serialized):
      return self.function(**{
          name: tf.ensure_shape(self._parse(serialized[i], name),
                                self.inputs[name].shape)
          for i, name in enumerate(self._order)})

    return parse_and_run.get_concrete_function()

  def _merging_function(self) -> tf.types.experimental.ConcreteFunction:
    """The signature on several requests (see `call_batch`).

    Takes `serialized`, `[num_requests, num_inputs]` TensorProtos (inputs in
    the order of `_order`), and `padded`, `[num_inputs, max rank - 1]`: the
    length of each input's non-batch axes after padding.
    """
    pads = {name: tf.constant("" if spec.dtype == tf.string else 0,
                              spec.dtype)
            for name, spec in self.inputs.items()}

    def pad(value: tf.Tensor, lengths: tf.Tensor, name: str) -> tf.Tensor:
      missing = lengths[:len(self._shapes[name]) - 1] - tf.shape(value)[1:]
      after = tf.stack([tf.zeros_like(missing), missing], axis=1)
      return tf.pad(value, tf.concat([[[0, 0]], after], axis=0),
                    constant_values=pads[name])

    @tf.function(input_signature=[
        tf.TensorSpec([None, len(self._order)], tf.string, name="serialized"),
        self._padded_spec])
    def parse_merge_and_run(serialized, padded):
      num_requests = tf.shape(serialized)[0]

      def parse_one(j, arrays):
        return j + 1, tuple(
            array.write(j, pad(self._parse(serialized[j, i], name),
                               padded[i], name))
            for i, (name, array) in enumerate(zip(self._order, arrays)))

      _, arrays = tf.while_loop(
          lambda j, _: j < num_requests, parse_one,
          (tf.constant(0), tuple(
              tf.TensorArray(self.inputs[name].dtype, size=num_requests,
                             infer_shape=False) for name in self._order)))
      return self.function(**{
          name: tf.ensure_shape(array.concat(), self.inputs[name].shape)
          for name, array in zip(self._order, arrays)})

    return parse_merge_and_run.get_concrete_function()

  def check_output_filter(self, output_filter: Sequence[str]) -> None:
    """Refuses an output filter naming outputs the signature does not have.

    Raises:
      errors.ServingError: INVALID_ARGUMENT for an unknown output name.
    """
    unknown = sorted(set(output_filter) - set(self.outputs))
    if unknown:
      raise errors.invalid_argument(
          f"output_filter names unknown outputs {unknown} of signature "
          f"{self.name!r}, which returns {list(self.outputs)}")

  def run(self, inputs: Mapping[str, tf.Tensor],
          output_filter: Sequence[str] = ()) -> Dict[str, np.ndarray]:
    """Calls the signature on tensors in process; its (`output_filter`) outputs.

    Raises:
      errors.ServingError: INVALID_ARGUMENT for an unknown output name.
      tf.errors.OpError: the signature's own checks.
    """
    self.check_output_filter(output_filter)
    return _numpy(self.function(**inputs), output_filter or self.outputs)

  def smoke_inputs(self) -> Dict[str, tf.Tensor]:
    """A minimal valid request: every unknown dimension 1, values "" or 0."""
    out = {}
    for name, spec in self.inputs.items():
      shape = [1 if d is None else d for d in spec.shape.as_list()]
      value = "" if spec.dtype == tf.string else 0
      out[name] = tf.fill(shape, tf.constant(value, spec.dtype))
    return out
