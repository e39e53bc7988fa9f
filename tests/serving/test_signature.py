"""Signature.decode and Signature.call on a small signature: every input's dtype, shape, number of values and batch size is checked before the call."""

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2

from serving import errors
from serving import signature as signature_lib
from serving import tensors

_INPUTS = {"user_id": tf.TensorSpec([None], tf.string, name="user_id"),
           "age": tf.TensorSpec([None], tf.int64, name="age"),
           "history": tf.TensorSpec([None, None], tf.string, name="history")}


class _Sizes(tf.Module):

  @tf.function(input_signature=[_INPUTS["user_id"], _INPUTS["age"],
                                _INPUTS["history"]])
  def sizes(self, user_id, age, history):
    return {"n": tf.size(user_id) + tf.size(age) + tf.size(history),
            "age_sum": tf.reduce_sum(age),
            "joined": tf.strings.reduce_join(history, axis=-1)}


@pytest.fixture(scope="module")
def signature(tmp_path_factory):
  """A signature as a loaded SavedModel has it: inputs by name."""
  path = str(tmp_path_factory.mktemp("sizes"))
  module = _Sizes()
  tf.saved_model.save(module, path, signatures={"s": module.sizes})
  return signature_lib.Signature("s", tf.saved_model.load(path).signatures["s"])


def _good(batch=1):
  return {"user_id": tf.make_tensor_proto([b"u"] * batch),
          "age": tf.make_tensor_proto(np.arange(batch, dtype=np.int64)),
          "history": tf.make_tensor_proto([[b"a", b"b"]] * batch)}


def _refused(signature, tensors):
  """The message both decode and call refuse `tensors` with."""
  messages = []
  for read in (signature.decode, signature.call):
    with pytest.raises(errors.ServingError) as error:
      read(tensors)
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    messages.append(error.value.message)
  assert messages[0] == messages[1]
  return messages[0]


def test_a_valid_request_decodes(signature):
  inputs = signature.decode(_good(batch=2))
  assert inputs["history"].shape == (2, 2)
  assert signature.run(inputs)["n"] == 8


def _expected(user_id, age, history):
  """The signature's outputs, computed in NumPy."""
  history = np.array(history, dtype=object)
  return {"n": len(user_id) + len(age) + history.size,
          "age_sum": int(np.sum(age)),
          "joined": [b"".join(row) for row in history]}


def _as_lists(outputs):
  return {name: value.tolist() for name, value in outputs.items()}


@pytest.mark.parametrize("as_content", [False, True])
def test_call_parses_the_tensors_in_tensorflow(signature, monkeypatch,
                                                as_content):
  user_id, age = [b"u", b"v"], [3, 4]
  history = [[b"a", b"bc"], [b"", "d\u00e9".encode()]]
  request = {
      "user_id": tensors.to_proto(np.array(user_id, dtype=object),
                                  strings_as_content=as_content),
      "age": tensors.to_proto(np.array(age, np.int64)),
      "history": tensors.to_proto(np.array(history, dtype=object),
                                  strings_as_content=as_content)}
  expected = _expected(user_id, age, history)
  assert _as_lists(signature.run(signature.decode(request))) == expected
  # No value is read in Python.
  monkeypatch.setattr(tensors, "to_array", None)
  monkeypatch.setattr(tensors, "to_input", None)
  assert _as_lists(signature.call(request)) == expected
  assert _as_lists(signature.call(request, output_filter=["age_sum"])) == {
      "age_sum": 7}


def test_call_refuses_an_unknown_output(signature):
  with pytest.raises(errors.ServingError) as error:
    signature.call(_good(), output_filter=["n", "nope"])
  assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
  assert "unknown outputs ['nope']" in error.value.message


@pytest.mark.parametrize("name", sorted(_INPUTS))
def test_an_input_with_another_batch_size_is_named(signature, name):
  tensors = {**_good(batch=1), name: _good(batch=2)[name]}
  message = _refused(signature, tensors)
  assert message.startswith(f"batch sizes differ: {name!r} has 2 where the "
                            "other inputs have 1")


def _with_shape(proto, shape):
  proto = tensor_pb2.TensorProto.FromString(proto.SerializeToString())
  del proto.tensor_shape.dim[:]
  for size in shape:
    proto.tensor_shape.dim.add().size = size
  return proto


@pytest.mark.parametrize("name, shape, held", [
    ("history", [1, 3], "holds 2 values"),  # TF would repeat b"b".
    ("history", [1, 1], "holds 2 values"),
    ("user_id", [0], "holds 1 values"),
    ("age", [2], "holds 1 values"),
])
def test_a_shape_that_disagrees_with_the_values_is_refused(signature, name,
                                                           shape, held):
  tensors = {**_good(), name: _with_shape(_good()[name], shape)}
  message = _refused(signature, tensors)
  assert f"input {name!r} has shape" in message and held in message


def _int64s(shape, values=(), content=b""):
  proto = tensor_pb2.TensorProto(dtype=tf.int64.as_datatype_enum,
                                 int64_val=values, tensor_content=content)
  return _with_shape(proto, shape)


def test_int64_values_are_counted_in_either_encoding(signature):
  for age in (_int64s([1], values=[7, 8]),
              _int64s([1], content=np.array([7, 8], np.int64).tobytes())):
    assert "holds 2 values" in _refused(signature, {**_good(), "age": age})
  for age in (_int64s([1], values=[7]),
              _int64s([1], content=np.array([7], np.int64).tobytes())):
    assert signature.decode({**_good(), "age": age})["age"].tolist() == [7]
    assert signature.call({**_good(), "age": age})["age_sum"] == 7


def test_content_that_is_not_whole_values_is_refused(signature):
  age = _int64s([1], content=np.array([7], np.int64).tobytes()[:5])
  assert "bytes that are not whole values" in _refused(
      signature, {**_good(), "age": age})


@pytest.mark.parametrize("shape", [[1, -1], [-1, 2], [1, -2]])
def test_a_negative_dimension_is_refused(signature, shape):
  # NumPy would infer a -1 from the values: [1, -1] would become [1, 2].
  tensors = {**_good(), "history": _with_shape(_good()["history"], shape)}
  assert _refused(signature, tensors) == (
      "input 'history' has a negative dimension: "
      f"[{', '.join(map(str, shape))}]")


def test_strings_as_content_are_checked_then_decoded(signature):
  as_content = lambda values: tensors.to_proto(
      np.array(values, dtype=object), strings_as_content=True)
  request = {**_good(batch=2), "user_id": as_content([b"u", b"v"]),
             "history": as_content([[b"a", b"b"], [b"c", b""]])}
  inputs = signature.decode(request)
  assert inputs["user_id"].tolist() == [b"u", b"v"]
  assert inputs["history"].tolist() == [[b"a", b"b"], [b"c", b""]]
  assert signature.run(inputs)["n"] == 8
  assert signature.call(request)["n"] == 8
  message = _refused(signature, {**request, "history": as_content([b"a"])})
  assert message == ("input 'history' of signature 's' must have shape "
                     "[?, ?] (rank 2), got [1]")
  wrong_count = as_content([[b"a", b"b"], [b"c", b""]])
  wrong_count.tensor_shape.dim[1].size = 3
  message = _refused(signature, {**request, "history": wrong_count})
  # 4 lengths of one byte and "abc".
  assert message.startswith("input 'history' could not be decoded: its 7 "
                            "bytes of tensor_content are not 6 strings")
