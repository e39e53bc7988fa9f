"""NumPy arrays to TensorProtos, fast for the string tensors of a ranking request.

`tf.make_tensor_proto` checks every value of an object array one by one in
Python: 3 ms for 10,000 candidate ids, more than the model's call. Bytes
arrays are written here in one `extend`; other arrays go through
`tf.make_tensor_proto` (its `tensor_content` encoding is already fast).
"""

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2


def to_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
  """The TensorProto of `array`, as `tf.make_tensor_proto` makes it.

  Raises:
    TypeError: an object array holding something other than bytes.
  """
  array = np.asarray(array)
  if array.dtype != object and array.dtype.kind != "S":
    return tf.make_tensor_proto(array)
  values = array.ravel().tolist()
  if not all(isinstance(v, bytes) for v in values):
    kinds = sorted({type(v).__name__ for v in values} - {"bytes"})
    raise TypeError(f"a string tensor must hold bytes, got {kinds}")
  proto = tensor_pb2.TensorProto(dtype=tf.string.as_datatype_enum)
  proto.tensor_shape.SetInParent()  # A scalar has an empty shape, not none.
  for size in array.shape:
    proto.tensor_shape.dim.add(size=size)
  proto.string_val.extend(values)
  return proto
