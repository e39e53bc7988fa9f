"""Signature.call and call_batch on a small signature: every input's dtype, shape, number of values and batch size is checked before the call, which parses them in TensorFlow."""

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import predict_pb2

from serving import batched
from serving import batching
from serving import errors
from serving import servable
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
            "joined": tf.strings.reduce_join(history, axis=-1),
            "history": tf.identity(history)}


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
  """The message both check_values and call refuse `tensors` with."""
  messages = []
  for read in (signature.check_values, signature.call):
    with pytest.raises(errors.ServingError) as error:
      read(tensors)
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    messages.append(error.value.message)
  assert messages[0] == messages[1]
  return messages[0]


def test_a_valid_request_runs(signature):
  outputs = signature.call(_good(batch=2))
  assert outputs["history"].shape == (2, 2)
  assert outputs["n"] == 8


def _expected(user_id, age, history):
  """The signature's outputs, computed in NumPy."""
  history = np.array(history, dtype=object)
  return {"n": len(user_id) + len(age) + history.size,
          "age_sum": int(np.sum(age)),
          "joined": [b"".join(row) for row in history],
          "history": history.tolist()}


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
  monkeypatch.setattr(tensors, "to_array", None)  # No value read in Python.
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


def test_strings_as_content_are_checked_then_parsed(signature):
  as_content = lambda values: tensors.to_proto(
      np.array(values, dtype=object), strings_as_content=True)
  request = {**_good(batch=2), "user_id": as_content([b"u", b"v"]),
             "history": as_content([[b"a", b"b"], [b"c", b""]])}
  outputs = signature.call(request)
  assert outputs["history"].tolist() == [[b"a", b"b"], [b"c", b""]]
  assert outputs["n"] == 8
  message = _refused(signature, {**request, "history": as_content([b"a"])})
  assert message == ("input 'history' of signature 's' must have shape "
                     "[?, ?] (rank 2), got [1]")
  wrong_count = as_content([[b"a", b"b"], [b"c", b""]])
  wrong_count.tensor_shape.dim[1].size = 3
  message = _refused(signature, {**request, "history": wrong_count})
  # 4 lengths of one byte and "abc".
  assert message.startswith("input 'history' could not be decoded: its 7 "
                            "bytes of tensor_content are not 6 strings")


def _request(user_id, age, history, as_content=False):
  strings = lambda values: tensors.to_proto(np.array(values, dtype=object),
                                            strings_as_content=as_content)
  return {"user_id": strings(user_id),
          "age": tensors.to_proto(np.array(age, np.int64)),
          "history": strings(history)}


def test_call_batch_pads_each_axis_to_the_longest_and_concatenates(signature):
  first = ([b"u"], [1], [[b"a"]])
  second = ([b"v", b"w"], [2, 3], [[b"b", b"c", b"d"], [b"e", b"f", b""]])
  outputs = signature.call_batch([_request(*first),
                                  _request(*second, as_content=True)])
  history = np.full((3, 3), b"", dtype=object)  # The oracle, by hand.
  history[0, :1] = first[2][0]
  history[1:] = second[2]
  assert _as_lists(outputs) == _expected([b"u", b"v", b"w"], [1, 2, 3],
                                         history)


def test_call_batch_of_one_request_is_its_call(signature):
  request = _request([b"u", b"v"], [3, 4], [[b"a", b"bc"], [b"", b"d"]])
  assert (_as_lists(signature.call_batch([request]))
          == _as_lists(signature.call(request)))


def test_call_batch_of_many_large_requests_matches_numpy(tmp_path):
  """Float and string inputs of thousands of values, of several lengths."""
  module = tf.Module()
  module.f = tf.function(input_signature=[
      tf.TensorSpec([None, None], tf.string, name="ids"),
      tf.TensorSpec([None, None], tf.float32, name="x")])(
          lambda ids, x: {"ids": tf.identity(ids), "x": tf.identity(x)})
  tf.saved_model.save(module, str(tmp_path), signatures={"f": module.f})
  signature = signature_lib.Signature(
      "f", tf.saved_model.load(str(tmp_path)).signatures["f"])
  rng = np.random.default_rng(1)
  sizes = [(1, 3000), (2, 2500), (1, 5000)]
  ids = [np.array([[b"%d" % v for v in row] for row in rng.integers(
      0, 99, size)], dtype=object) for size in sizes]
  xs = [rng.normal(size=size).astype(np.float32) for size in sizes]
  outputs = signature.call_batch([
      {"ids": tensors.to_proto(i, strings_as_content=True),
       "x": tensors.to_proto(x)} for i, x in zip(ids, xs)])
  expected_ids = np.full((4, 5000), b"", dtype=object)
  expected_x = np.zeros((4, 5000), np.float32)
  row = 0
  for i, x in zip(ids, xs):
    expected_ids[row:row + len(i), :i.shape[1]] = i
    expected_x[row:row + len(x), :x.shape[1]] = x
    row += len(i)
  assert outputs["ids"].tolist() == expected_ids.tolist()
  np.testing.assert_array_equal(outputs["x"], expected_x)


def test_a_signature_with_a_scalar_input_runs_unbatched(tmp_path):
  """Also when the server batches: its requests are not merged."""
  module = tf.Module()
  module.f = tf.function(input_signature=[
      tf.TensorSpec([], tf.int64, name="k"),
      tf.TensorSpec([None], tf.float32, name="x")])(
          lambda k, x: {"top": tf.math.top_k(x, k=tf.cast(k, tf.int32))[0]})
  tf.saved_model.save(module, str(tmp_path), signatures={"f": module.f})
  signature = signature_lib.Signature(
      "f", tf.saved_model.load(str(tmp_path)).signatures["f"])
  assert not signature.batchable
  request = {"k": tensors.to_proto(np.array(2, np.int64)),
             "x": tensors.to_proto(np.array([0.5, 3.0, 1.0], np.float32))}
  assert signature.call(request)["top"].tolist() == [3.0, 1.0]
  with pytest.raises(ValueError, match="cannot be merged"):
    signature.call_batch([request, request])
  batcher = batched.SignatureBatcher(batching.Parameters(max_batch_size=4))
  predict = predict_pb2.PredictRequest()
  predict.model_spec.signature_name = "f"
  for name, proto in request.items():
    predict.inputs[name].CopyFrom(proto)
  try:
    outputs = servable.Servable(1, str(tmp_path)).run(predict,
                                                      batcher=batcher)
  finally:
    batcher.stop()
  assert outputs["top"].tolist() == [3.0, 1.0]


@pytest.mark.parametrize("specs", [
    [tf.TensorSpec([1, None], tf.string, name="ids")],  # Batches of one.
    [tf.TensorSpec([2], tf.float32, name="x")],
    [tf.TensorSpec([None], tf.float32, name="x"),
     tf.TensorSpec([1, None], tf.string, name="ids")],
    [],  # No inputs.
], ids=["batch of one", "batch of two", "one fixed", "no inputs"])
def test_a_fixed_batch_size_is_not_batchable(tmp_path, specs):
  module = tf.Module()
  module.f = tf.function(input_signature=specs)(
      lambda *args: {"n": tf.add_n([tf.size(a) for a in args] + [0])})
  tf.saved_model.save(module, str(tmp_path), signatures={"f": module.f})
  signature = signature_lib.Signature(
      "f", tf.saved_model.load(str(tmp_path)).signatures["f"])
  assert not signature.batchable
  shapes = {spec.name: [1 if d is None else d for d in spec.shape.as_list()]
            for spec in specs}
  request = {spec.name: tensors.to_proto(
      np.full(shapes[spec.name], b"a", dtype=object) if spec.dtype == tf.string
      else np.zeros(shapes[spec.name], np.float32)) for spec in specs}
  expected = sum(int(np.prod(shape)) for shape in shapes.values())
  assert int(signature.call(request)["n"]) == expected
