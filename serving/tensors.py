"""NumPy arrays to TensorProtos and back, fast for the string tensors of a ranking request.

`tf.make_tensor_proto` checks every value of an object array one by one in
Python: 3 ms for 10,000 candidate ids, more than the model's call. String
arrays are written here in one `extend` (protobuf checks the values) and
read in one `np.fromiter`; other arrays go through TensorFlow's functions
(their `tensor_content` encoding is already fast).
"""

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2


def to_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
  """The TensorProto of `array`, as `tf.make_tensor_proto` makes it.

  Raises:
    TypeError: an object array holding values other than bytes (protobuf
      refuses them).
  """
  array = np.asarray(array)
  if array.dtype != object and array.dtype.kind != "S":
    return tf.make_tensor_proto(array)
  values = array.ravel().tolist()
  proto = tensor_pb2.TensorProto(dtype=tf.string.as_datatype_enum)
  proto.tensor_shape.SetInParent()  # A scalar has an empty shape, not none.
  for size in array.shape:
    proto.tensor_shape.dim.add(size=size)
  proto.string_val.extend(values)
  return proto


def to_array(proto: tensor_pb2.TensorProto) -> np.ndarray:
  """The array of a TensorProto whose values fill its shape (tf.make_ndarray).

  Raises:
    ValueError, TypeError: a tensor TensorFlow cannot decode.
  """
  if proto.dtype != tf.string.as_datatype_enum or proto.tensor_content:
    return tf.make_ndarray(proto)
  shape = [d.size for d in proto.tensor_shape.dim]
  return np.fromiter(proto.string_val, dtype=object,
                     count=len(proto.string_val)).reshape(shape)
