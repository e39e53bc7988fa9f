"""One signature of a loaded SavedModel: checks request tensors against it and runs it."""

import collections
import contextlib
import math
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2

from serving import errors
from serving import tensors as tensors_lib

# The input of the coarse ranker's serving_default whose last axis is the
# candidate list (models/serving.py); the server's candidate limit applies
# to it.
CANDIDATES_INPUT = "candidate_item_ids"


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


@contextlib.contextmanager
def _decoding(name: str):
  """Answers a tensor that cannot be decoded with INVALID_ARGUMENT naming it."""
  try:
    yield
  except (ValueError, TypeError) as e:
    raise errors.invalid_argument(
        f"input {name!r} could not be decoded: {e}") from e


class Signature:
  """A signature's inputs (name -> TensorSpec), outputs and function.

  What a call needs of the signature's structure (each input's dtype and
  shape, the order of its flat arguments) is looked up once, here.
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
    shape = [d.size for d in proto.tensor_shape.dim]
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
      return shape  # Decoding checks the count (tensors.to_input).
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

    String content is checked by `decode`/`call`, which read it.

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

  def decode(self, tensors: Mapping[str, tensor_pb2.TensorProto],
             max_candidates: Optional[int] = None
             ) -> Dict[str, Union[np.ndarray, tf.Tensor]]:
    """Checks request tensors against the signature (`check`); their values.

    Each input's values are an array, or a tensor for a large string input
    sent as tensor_content (tensors.to_input).

    Raises:
      errors.ServingError: INVALID_ARGUMENT for what `check` refuses, or an
        undecodable tensor.
    """
    self.check(tensors, max_candidates)
    out = {}
    for name, proto in tensors.items():
      with _decoding(name):
        out[name] = tensors_lib.to_input(proto)
    return out

  def call(self, tensors: Mapping[str, tensor_pb2.TensorProto],
           max_candidates: Optional[int] = None,
           output_filter: Sequence[str] = ()) -> Dict[str, np.ndarray]:
    """Checks request tensors (as `decode`) and runs the signature on them.

    The tensors reach TensorFlow serialized, in one call that parses them
    (`tf.io.parse_tensor`, TensorFlow's C++ as in TF Serving) and runs the
    signature: no value passes through Python. Against `decode` then `run`,
    1.3 against 2.2 ms for 1,000 candidates, 2.0 against 3.4 ms for 10,000.

    Raises:
      errors.ServingError: INVALID_ARGUMENT for what `decode` refuses or an
        unknown output name.
      tf.errors.OpError: the signature's own checks, e.g. too many
        candidates for the model.
    """
    self.check(tensors, max_candidates)
    self.check_output_filter(output_filter)
    for name, proto in tensors.items():
      if proto.dtype == tf.string.as_datatype_enum and proto.tensor_content:
        with _decoding(name):
          tensors_lib.check_string_content(proto)
    results = self._parse_and_run(tf.constant(
        [tensors[name].SerializeToString() for name in self._order]))
    names = output_filter or self.outputs
    return {name: results[name].numpy() for name in names}

  def _parsing_function(self) -> tf.types.experimental.ConcreteFunction:
    """The signature on its inputs' serialized TensorProtos, `[num_inputs]`
    strings in the order of `_order`; parses them, then calls it."""

    @tf.function(input_signature=[
        tf.TensorSpec([len(self._order)], tf.string, name="serialized")])
    def parse_and_run(serialized):
      inputs = {}
      for i, name in enumerate(self._order):
        spec = self.inputs[name]
        inputs[name] = tf.ensure_shape(
            tf.io.parse_tensor(serialized[i], spec.dtype), spec.shape)
      return self.function(**inputs)

    return parse_and_run.get_concrete_function()

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

  def run(self, inputs: Mapping[str, Union[np.ndarray, tf.Tensor]],
          output_filter: Sequence[str] = ()) -> Dict[str, np.ndarray]:
    """Calls the signature on decoded inputs; its (`output_filter`) outputs.

    The inputs must have the signature's dtypes and shapes (decode checks
    them): the function is called on its flat arguments, without binding
    and checking them against its structure again.

    Raises:
      errors.ServingError: INVALID_ARGUMENT for an unknown output name.
      tf.errors.OpError: the signature's own checks, e.g. too many
        candidates for the model.
    """
    self.check_output_filter(output_filter)
    # pylint: disable-next=protected-access
    results = self.function._call_flat(
        [tf.convert_to_tensor(inputs[name], self.inputs[name].dtype)
         for name in self._order], self.function.captured_inputs)
    names = output_filter or self.outputs
    return {name: results[name].numpy() for name in names}

  def smoke_inputs(self) -> Dict[str, tf.Tensor]:
    """A minimal valid request: every unknown dimension 1, values "" or 0."""
    out = {}
    for name, spec in self.inputs.items():
      shape = [1 if d is None else d for d in spec.shape.as_list()]
      value = "" if spec.dtype == tf.string else 0
      out[name] = tf.fill(shape, tf.constant(value, spec.dtype))
    return out
