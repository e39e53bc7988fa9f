"""TF Serving's --batching_parameters_file: a BatchingParameters text proto, read into batching.Parameters.

The message is TF Serving's (tensorflow_serving/servables/tensorflow/
session_bundle_config.proto), which the tensorflow-serving-api package does
not ship; it is built here from the same field names, numbers and types, so
a file tensorflow_model_server reads parses the same way.
"""

from google.protobuf import descriptor_pb2
from google.protobuf import descriptor_pool
from google.protobuf import message_factory
from google.protobuf import text_format
from google.protobuf import wrappers_pb2
import tensorflow as tf

from serving import batching

_Field = descriptor_pb2.FieldDescriptorProto
# (name, number, type, wrapper message or None, repeated)
_FIELDS = (
    ("max_batch_size", 1, _Field.TYPE_MESSAGE, "Int64Value", False),
    ("batch_timeout_micros", 2, _Field.TYPE_MESSAGE, "Int64Value", False),
    ("max_enqueued_batches", 3, _Field.TYPE_MESSAGE, "Int64Value", False),
    ("num_batch_threads", 4, _Field.TYPE_MESSAGE, "Int64Value", False),
    ("thread_pool_name", 5, _Field.TYPE_MESSAGE, "StringValue", False),
    ("allowed_batch_sizes", 6, _Field.TYPE_INT64, None, True),
    ("pad_variable_length_inputs", 7, _Field.TYPE_BOOL, None, False),
)
# The fields this server applies. The others are accepted and ignored: it
# pads every batch to its longest request itself (whatever
# pad_variable_length_inputs says) and cuts each caller's outputs back, and
# runs batches of any size up to max_batch_size (allowed_batch_sizes).
_APPLIED = ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches",
            "num_batch_threads")


class BatchingConfigError(ValueError):
  """The batching parameters file cannot be read or is not valid."""


def _message_class():
  pool = descriptor_pool.DescriptorPool()
  pool.AddSerializedFile(
      wrappers_pb2.DESCRIPTOR.serialized_pb)  # google/protobuf/wrappers.proto
  proto = descriptor_pb2.FileDescriptorProto(
      name="coarse_rank/batching_parameters.proto",
      package="tensorflow.serving", syntax="proto3",
      dependency=["google/protobuf/wrappers.proto"])
  message = proto.message_type.add(name="BatchingParameters")
  for name, number, kind, wrapper, repeated in _FIELDS:
    field = message.field.add(
        name=name, number=number, type=kind,
        label=(_Field.LABEL_REPEATED if repeated
               else _Field.LABEL_OPTIONAL))
    if wrapper:
      field.type_name = f".google.protobuf.{wrapper}"
  pool.Add(proto)
  return message_factory.GetMessageClass(
      pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))


BatchingParameters = _message_class()


def parse(text: str) -> batching.Parameters:
  """The parameters of a BatchingParameters text proto.

  Raises:
    BatchingConfigError: not a BatchingParameters text proto, or a value
      out of range.
  """
  proto = BatchingParameters()
  try:
    text_format.Parse(text, proto)
  except text_format.ParseError as e:
    raise BatchingConfigError(
        f"not a BatchingParameters text proto: {e}") from e
  values = {name: getattr(proto, name).value for name in _APPLIED
            if proto.HasField(name)}
  try:
    return batching.Parameters(**values)
  except ValueError as e:
    raise BatchingConfigError(str(e)) from e


def read(path: str) -> batching.Parameters:
  """The parameters of a --batching_parameters_file.

  Raises:
    BatchingConfigError: the file cannot be read or is not valid.
  """
  try:
    with tf.io.gfile.GFile(path) as f:
      text = f.read()
  except tf.errors.OpError as e:
    raise BatchingConfigError(f"cannot read {path}: {e.message}") from e
  try:
    return parse(text)
  except BatchingConfigError as e:
    raise BatchingConfigError(f"{path}: {e}") from e
