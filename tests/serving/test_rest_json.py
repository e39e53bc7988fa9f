"""TF Serving's REST JSON to arrays and back, without a server."""

import json

import grpc
import numpy as np
import pytest
import tensorflow as tf

from serving import errors
from serving import rest_json

_SPECS = {"user_id": tf.TensorSpec([None], tf.string),
          "age": tf.TensorSpec([None], tf.int64),
          "weights": tf.TensorSpec([None, None], tf.float32)}


def _refused(call, *args):
  with pytest.raises(errors.ServingError) as error:
    call(*args)
  assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
  return error.value.message


@pytest.mark.parametrize("value, dtype, expected, expected_dtype", [
    ([[1, 2], [3, 4]], tf.int64, [[1, 2], [3, 4]], np.int64),
    ([1, 2], tf.float32, [1.0, 2.0], np.float32),  # Integers fit floats.
    ([1.5, 2], None, [1.5, 2.0], np.float32),
    ([True, False], tf.bool, [True, False], np.bool_),
    (7, tf.int64, 7, np.int64),
    ([["a", "é"]], tf.string, [[b"a", "é".encode()]], object),
    ([{"b64": "/w=="}], tf.string, [b"\xff"], object),
    # Values that do not fit keep their own dtype: decode names it.
    (["x"], tf.int64, [b"x"], object),
    ([1.5], tf.int64, [1.5], np.float32),
    ([1], tf.string, [1], np.int64),
])
def test_values_take_the_inputs_dtype_when_they_fit(value, dtype, expected,
                                                    expected_dtype):
  array = rest_json.to_array(value, dtype, "x")
  assert array.dtype == expected_dtype
  assert array.tolist() == expected


def test_an_empty_list_takes_the_inputs_dtype_and_shape():
  array = rest_json.to_array([[], []], tf.string, "x")
  assert array.shape == (2, 0) and array.dtype == object


@pytest.mark.parametrize("value, message", [
    ([[1, 2], [3]], "'x' is not a rectangular array"),
    ([1, "a"], "mixes JSON values that make no one tensor: ['int', 'str']"),
    ([None], "mixes JSON values that make no one tensor: ['null']"),
    ([{"b64": "!!"}], "not base64"),
    ([2**70], "out of int64's range"),
])
def test_malformed_values_are_refused(value, message):
  assert message in _refused(rest_json.to_array, value, tf.int64, "'x'")


def test_rows_become_one_tensor_per_input():
  arrays = rest_json.instances_to_arrays(
      [{"user_id": "u1", "age": 3, "weights": [0.5, 1]},
       {"user_id": "u2", "age": -1, "weights": [2, 3]}], _SPECS)
  assert arrays["user_id"].tolist() == [b"u1", b"u2"]
  assert arrays["age"].dtype == np.int64 and arrays["age"].tolist() == [3, -1]
  assert arrays["weights"].tolist() == [[0.5, 1.0], [2.0, 3.0]]


def test_rows_of_a_single_input_signature_may_be_bare_values():
  specs = {"item_ids": tf.TensorSpec([None], tf.string)}
  assert rest_json.instances_to_arrays(["a", "b"], specs)[
      "item_ids"].tolist() == [b"a", b"b"]
  assert rest_json.inputs_to_arrays(["a"], specs)["item_ids"].tolist() == [
      b"a"]


@pytest.mark.parametrize("instances, message", [
    ([], "'instances' must be a non-empty list of rows"),
    ({"user_id": "u"}, "'instances' must be a non-empty list of rows"),
    ([{"user_id": "u", "age": 1}, {"user_id": "v"}],
     "'instances' row 1 has inputs ['user_id'] where row 0 has ['age', "
     "'user_id']"),
    (["u"], "'instances' rows must name the inputs in JSON objects"),
])
def test_malformed_rows_are_refused(instances, message):
  assert message in _refused(rest_json.instances_to_arrays, instances,
                             _SPECS)


def test_columns_become_tensors():
  arrays = rest_json.inputs_to_arrays(
      {"user_id": ["u"], "age": [4], "weights": [[1.0]], "extra": [1]},
      _SPECS)
  assert arrays["age"].tolist() == [4] and arrays["age"].dtype == np.int64
  assert arrays["extra"].dtype == np.int64  # Not an input: decode says so.


@pytest.mark.parametrize("body, message", [
    (b"{", "the body is not valid JSON"),
    (b"[1]", "the body must be a JSON object"),
    (b"{}", "got none"),
    (b'{"inputs": {}, "instances": []}', "not both"),
    (b'{"inputs": {}, "signature_name": 3}', "must be a string"),
    (b'{"inputs": {}, "outputs": 3}', "unknown keys in the body: ['outputs']"),
])
def test_malformed_bodies_are_refused(body, message):
  assert message in _refused(rest_json.parse_body, body)


def test_a_body_names_its_signature_and_format():
  assert rest_json.parse_body(
      b'{"signature_name": "s", "instances": [1]}') == ("s", "instances", [1])
  assert rest_json.parse_body(b'{"inputs": [1]}') == ("", "inputs", [1])


def test_outputs_are_written_as_tf_serving_writes_them():
  outputs = {"scores": np.array([[0.5, -np.inf], [1.0, 2.0]], np.float32),
             "ids": np.array([[b"a", b"\xff"], [b"c", b"d"]], dtype=object)}
  assert rest_json.dumps(rest_json.predictions(outputs)) == (
      '[{"ids": ["a", {"b64": "/w=="}], "scores": [0.5, -Infinity]}, '
      '{"ids": ["c", "d"], "scores": [1.0, 2.0]}]')
  assert rest_json.dumps(rest_json.columns(outputs)) == (
      '{"scores": [[0.5, -Infinity], [1.0, 2.0]], '
      '"ids": [["a", {"b64": "/w=="}], ["c", "d"]]}')
  only = {"scores": outputs["scores"]}
  for answer in (rest_json.predictions(only), rest_json.columns(only)):
    assert rest_json.dumps(answer) == "[[0.5, -Infinity], [1.0, 2.0]]"
  # One value per row: each row's output is a scalar.
  rows = {"score": np.array([0.25, 3.0], np.float32),
          "id": np.array([b"a", b"b"], dtype=object)}
  assert rest_json.dumps(rest_json.predictions(rows)) == (
      '[{"id": "a", "score": 0.25}, {"id": "b", "score": 3.0}]')


# As TF Serving's WriteDecimal: 6 significant digits (printf's %g) when they
# read back as the same value of the dtype, else 9 (float32) or 17 (float64);
# ".0" after a whole number without an exponent. The long forms are printf's.
@pytest.mark.parametrize("dtype, value, text", [
    (np.float32, 0.1, "0.1"),
    (np.float32, 0.25, "0.25"),
    (np.float32, np.nextafter(np.float32(0.1), np.float32(1)), "0.100000009"),
    (np.float32, 1 / 3, "0.333333343"),
    (np.float32, -1.5e-7, "-1.5e-07"),
    (np.float32, 3.0, "3.0"),
    (np.float32, 1e6, "1e+06"),  # Whole in exponent form: no ".0".
    (np.float32, 123456792.0, "123456792.0"),  # 1.23457e+08 is not it.
    (np.float32, -0.0, "-0.0"),
    (np.float32, np.inf, "Infinity"),
    (np.float32, -np.inf, "-Infinity"),
    (np.float32, np.nan, "NaN"),
    (np.float64, 0.1, "0.1"),
    (np.float64, 1 / 3, "0.33333333333333331"),
    (np.float16, 0.5, "0.5"),  # A half is written as a float.
    (np.float16, 0.1, "0.0999755859"),
    (np.dtype(">f4"), 0.1, "0.1"),  # Big-endian: the same.
])
def test_floats_are_written_as_tf_serving_writes_them(dtype, value, text):
  assert rest_json.columns({"x": np.array([value], dtype)}) == f"[{text}]"
  assert rest_json.columns({"x": np.array(value, dtype)}) == text
  assert rest_json.dumps(rest_json.predictions(
      {"x": np.array([value], dtype), "y": np.array([1], np.int32)})) == (
          f'[{{"x": {text}, "y": 1}}]')


def test_float_arrays_of_any_shape_are_nested_lists():
  array = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 8
  text = rest_json.columns({"x": array})
  assert text.startswith("[[[0.0, 0.125, 0.25, 0.375], [0.5, ")
  assert json.loads(text) == array.tolist()
  for shape in [(0,), (2, 0), (0, 3), (2, 0, 3)]:
    empty = np.zeros(shape, np.float32)
    assert json.loads(rest_json.columns({"x": empty})) == empty.tolist()


def test_other_outputs_are_written_as_json():
  outputs = {"n": np.array([[1, 2]], np.int64),
             "b": np.array([True, False])}
  for name, array in outputs.items():
    assert (rest_json.dumps(rest_json.columns({name: array}))
            == json.dumps(array.tolist()))


def test_float32_values_survive_the_round_trip_exactly():
  scores = np.random.default_rng(0).standard_normal(100).astype(np.float32)
  for text in (json.dumps(rest_json.to_json(scores)),
               rest_json.columns({"scores": scores})):
    np.testing.assert_array_equal(
        rest_json.to_array(json.loads(text), tf.float32, "x"), scores)
