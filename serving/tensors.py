"""NumPy arrays to TensorProtos and back, fast for the tensors of a ranking request.

`tf.make_tensor_proto` checks every value of an object array one by one in
Python: 3 ms for 10,000 candidate ids, more than the model's call; it and
`tf.make_ndarray` also spend 15-80 us each on a one-value int64 tensor.
String arrays are written here in one `extend` (protobuf checks the values)
and read in one `np.fromiter`; float32/64 and int32/64 arrays are written as
`tensor_content` and read from it or from their repeated field with
`np.frombuffer`/`np.array`. Anything else (other dtypes, a proto whose
values do not fill its shape, which TensorFlow fills with the last value)
goes through TensorFlow's functions.

Strings may also travel as `tensor_content`, in TensorFlow's own encoding
(`Tensor::AsProtoTensorContent`: every length as a varint32, then the
bytes one after the other), which TensorFlow's C++ (`Tensor::FromProto`, so
TF Serving) reads like `string_val`; so does the local server, which parses
every request tensor in TensorFlow (serving/signature.py) after
`check_string_content`. `tf.make_ndarray` cannot read them; `to_array` can.
"""

import math
import sys
from typing import List, Sequence, Tuple

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2

_STRING = tf.string.as_datatype_enum
# DataType enum -> (NumPy dtype, the TensorProto field of its values).
_NUMERIC = {
    tf.float32.as_datatype_enum: (np.dtype(np.float32), "float_val"),
    tf.float64.as_datatype_enum: (np.dtype(np.float64), "double_val"),
    tf.int32.as_datatype_enum: (np.dtype(np.int32), "int_val"),
    tf.int64.as_datatype_enum: (np.dtype(np.int64), "int64_val"),
}
_ENUM_OF = {dtype: enum for enum, (dtype, _) in _NUMERIC.items()}
# tensor_content holds the values in little-endian order.
_NATIVE_IS_LITTLE = sys.byteorder == "little"


def _proto_with_shape(enum: int, dims: Sequence[int]
                      ) -> tensor_pb2.TensorProto:
  """An empty TensorProto of DataType `enum` and shape `dims`."""
  proto = tensor_pb2.TensorProto(dtype=enum)
  proto.tensor_shape.SetInParent()  # A scalar has an empty shape, not none.
  for size in dims:
    proto.tensor_shape.dim.add(size=size)
  return proto


def shape(proto: tensor_pb2.TensorProto) -> List[int]:
  """A TensorProto's dimensions, as its `tensor_shape` gives them."""
  return [d.size for d in proto.tensor_shape.dim]


def _varint(value: int) -> bytes:
  """The protobuf varint of a non-negative integer."""
  out = bytearray()
  while value > 0x7F:
    out.append(value & 0x7F | 0x80)
    value >>= 7
  out.append(value)
  return bytes(out)


def string_content(values: Sequence[bytes]) -> bytes:
  """TensorFlow's tensor_content of strings: the varint32 lengths, then the bytes.

  Raises:
    TypeError: a value that is not bytes.
  """
  lengths = list(map(len, values))
  body = b"".join(values)
  try:
    head = bytes(lengths)  # Each length's varint, if all are below 128.
  except ValueError:  # A length above 255.
    head = None
  if head is None or not head.isascii():  # Some varints of several bytes.
    head = b"".join(map(_varint, lengths))
  return head + body


def to_proto(array: np.ndarray, strings_as_content: bool = False
             ) -> tensor_pb2.TensorProto:
  """The TensorProto of `array`.

  Args:
    array: the values.
    strings_as_content: write strings as `tensor_content` (see the module
      docstring), not `string_val`; `tf.make_ndarray` cannot read them then,
      TensorFlow's C++ and `to_array` can.

  Returns:
    The proto; `tf.make_ndarray` gives the array back, unless it holds
    strings as content.

  Raises:
    TypeError: an object array holding values other than bytes.
  """
  array = np.asarray(array)
  if array.dtype == object or array.dtype.kind == "S":
    proto = _proto_with_shape(_STRING, array.shape)
    values = array.ravel().tolist()
    if strings_as_content:
      proto.tensor_content = string_content(values)
    else:
      proto.string_val.extend(values)
    return proto
  native = array.dtype.newbyteorder("=")
  enum = _ENUM_OF.get(native)
  if enum is None or not _NATIVE_IS_LITTLE:
    return tf.make_tensor_proto(array)
  proto = _proto_with_shape(enum, array.shape)
  # In C order whatever the strides, big-endian values swapped.
  proto.tensor_content = array.astype(native, copy=False).tobytes()
  return proto


# The client sends string tensors of more values than this as content: for
# 10,000 ids, the request is 10% smaller, and parsing it and serializing the
# tensor again on the server takes 0.01 ms instead of 0.24 (protobuf makes
# no value per string); building it takes 0.08 ms more. (The threshold dates
# from when the local server decoded requests in Python.)
LARGE_STRINGS = 4096


def _content_error(content: bytes, size: int) -> ValueError:
  return ValueError(f"its {len(content)} bytes of tensor_content are not "
                    f"{size} strings (each length as a varint, then the bytes)")


# A varint32 takes at most 5 bytes.
_MAX_VARINT_BYTES = 5


def _string_lengths(content: bytes, size: int) -> Tuple[np.ndarray, int]:
  """The `size` lengths at the head of string content, and where the bytes start.

  The varints are read with NumPy: the first `size` bytes below 0x80 end
  them (the bytes of the strings come after all of them).

  Raises:
    ValueError: content that is not `size` strings: too few lengths, a
      length of more than 5 bytes, or lengths whose sum is not the rest.
  """
  if len(content) >= size and content[:size].isascii():
    # Every length is one byte (also when there are none).
    lengths, start = np.frombuffer(content, np.uint8, count=size), size
  else:
    head = np.frombuffer(content, np.uint8,
                         count=min(len(content), _MAX_VARINT_BYTES * size))
    ends = np.flatnonzero(head < 0x80)[:size]  # The last byte of each.
    if len(ends) < size:
      raise _content_error(content, size)
    starts = np.concatenate([[0], ends[:-1] + 1])
    widths = ends - starts + 1
    if widths.max() > _MAX_VARINT_BYTES:
      raise _content_error(content, size)
    start = int(ends[-1]) + 1
    shifts = 7 * (np.arange(start) - np.repeat(starts, widths))
    lengths = np.add.reduceat((head[:start].astype(np.int64) & 0x7F) << shifts,
                              starts)
  if start + int(lengths.sum(dtype=np.int64)) != len(content):
    raise _content_error(content, size)
  return lengths, start


def check_string_content(proto: tensor_pb2.TensorProto) -> None:
  """Checks string content holds its shape's number of strings, keeping none.

  Raises:
    ValueError: content that is not the shape's number of strings in
      TensorFlow's encoding.
  """
  _string_lengths(proto.tensor_content, math.prod(shape(proto)))


def _string_content(proto: tensor_pb2.TensorProto, dims: Sequence[int]
                    ) -> np.ndarray:
  """The values of a string TensorProto held as content, an object array.

  Raises:
    ValueError: content that is not the shape's number of strings in
      TensorFlow's encoding.
  """
  content = proto.tensor_content
  lengths, start = _string_lengths(content, math.prod(dims))
  ends = (start + np.cumsum(lengths, dtype=np.int64)).tolist()
  return np.array([content[a:b] for a, b in zip([start] + ends, ends)],
                  dtype=object).reshape(dims)


def to_array(proto: tensor_pb2.TensorProto) -> np.ndarray:
  """The array of a TensorProto whose values fill its shape (tf.make_ndarray).

  Raises:
    ValueError, TypeError: a tensor TensorFlow cannot decode.
  """
  dims = shape(proto)
  size = int(np.prod(dims, dtype=np.int64))
  if proto.dtype == _STRING and proto.tensor_content:
    return _string_content(proto, dims)
  if proto.dtype == _STRING and len(proto.string_val) == size:
    return np.fromiter(proto.string_val, dtype=object,
                       count=len(proto.string_val)).reshape(dims)
  numeric = _NUMERIC.get(proto.dtype)
  if numeric is None or not _NATIVE_IS_LITTLE:
    return tf.make_ndarray(proto)
  dtype, field = numeric
  if proto.tensor_content:
    if len(proto.tensor_content) != size * dtype.itemsize:
      return tf.make_ndarray(proto)
    return np.frombuffer(proto.tensor_content, dtype).reshape(dims).copy()
  values = getattr(proto, field)
  if len(values) != size:
    return tf.make_ndarray(proto)
  return np.array(values, dtype).reshape(dims)
