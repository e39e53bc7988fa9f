"""TF Serving's REST JSON to arrays and back: the row ("instances") and columnar ("inputs") formats.

A JSON value becomes an array of the signature input's dtype when its values
fit it (integers for an integer or float input, numbers for a float input,
strings or {"b64": ...} for a string input); otherwise it keeps the dtype
of its values (int64, float32, string, bool), so that Signature.check
refuses it with the same message as over gRPC. Outputs are written as TF
Serving writes them (`WriteDecimal` in tensorflow_serving/util/
json_tensor.cc; `dumps`): a float in 6 significant digits when they read
back as the same value of its dtype, else in as many as the dtype needs (9
for float32, 17 for float64), whole numbers with ".0", -inf, inf and NaN as
-Infinity, Infinity and NaN (which Python's and JavaScript's JSON parsers
read); other numbers as JSON numbers; strings as text, or as {"b64": ...}
when they are not UTF-8.
"""

import base64
import binascii
import json
import math
from typing import Any, Dict, List, Mapping, Optional, Set, Tuple

import numpy as np
import tensorflow as tf

from serving import errors

INSTANCES = "instances"
INPUTS = "inputs"
SIGNATURE_NAME = "signature_name"
_B64 = "b64"
# The dtype of a JSON value's kind when the signature gives none that fits.
_DEFAULT_DTYPES = {"string": tf.string, "bool": tf.bool, "int": tf.int64,
                   "float": tf.float32}


def _is_b64(value: Any) -> bool:
  return isinstance(value, dict) and set(value) == {_B64}


def _flatten(value: Any, what: str) -> Tuple[List[int], List[Any]]:
  """The shape and row-major values of nested JSON lists.

  Raises:
    errors.ServingError: lists of different lengths at one depth.
  """
  if not isinstance(value, list):
    return [], [value]
  if list not in set(map(type, value)):  # JSON gives lists, no subclass.
    return [len(value)], value
  parts = [_flatten(v, what) for v in value]
  shapes = {tuple(shape) for shape, _ in parts}
  if len(shapes) > 1:
    raise errors.invalid_argument(
        f"{what} is not a rectangular array: its lists have shapes "
        f"{sorted(shapes)}")
  (shape,) = shapes
  return [len(value), *shape], [v for _, values in parts for v in values]


def _kind(values: List[Any], types: Set[type], what: str) -> Optional[str]:
  """"string", "bool", "int" or "float" for values of `types`; None for none."""
  if not types:
    return None
  if types <= {str, dict} and (dict not in types or all(
      _is_b64(v) for v in values if isinstance(v, dict))):
    return "string"
  if types == {bool}:
    return "bool"
  if types == {int}:
    return "int"
  if types <= {int, float}:
    return "float"
  names = sorted("null" if t is type(None) else t.__name__ for t in types)
  raise errors.invalid_argument(
      f"{what} mixes JSON values that make no one tensor: {names}")


def _bytes(value: Any, what: str) -> bytes:
  if isinstance(value, str):
    return value.encode("utf-8")
  try:
    return base64.b64decode(value[_B64], validate=True)
  except (binascii.Error, TypeError) as e:
    raise errors.invalid_argument(
        f"{what} has a {{\"b64\": ...}} value that is not base64: {e}") from e


def _object_array(values: List[Any]) -> np.ndarray:
  """A 1-D object array of `values` (NumPy would nest lists, not keep them)."""
  array = np.empty(len(values), dtype=object)
  array[:] = values
  return array


def _fits(kind: str, dtype: tf.DType) -> bool:
  if kind == "string":
    return dtype == tf.string
  if kind == "bool":
    return dtype == tf.bool
  if kind == "int":
    return dtype.is_integer or dtype.is_floating
  return dtype.is_floating


def to_array(value: Any, dtype: Optional[tf.DType], what: str) -> np.ndarray:
  """The array of a JSON value, of `dtype` if its values fit it.

  Args:
    value: a JSON value: a number, string, {"b64": ...} or nested lists.
    dtype: the signature input's dtype; None for an input it lacks.
    what: names the value in error messages.

  Raises:
    errors.ServingError: INVALID_ARGUMENT for a ragged array, values of
      mixed kinds, nulls, or integers out of the dtype's range.
  """
  shape, values = _flatten(value, what)
  types = set(map(type, values))
  kind = _kind(values, types, what)
  if kind is None:  # No values: the input's dtype, or float32.
    target = dtype or tf.float32
  else:
    target = dtype if dtype is not None and _fits(kind, dtype) else (
        _DEFAULT_DTYPES[kind])
  if target == tf.string:
    return _object_array(list(map(str.encode, values)) if types == {str}
                         else [_bytes(v, what) for v in values]).reshape(shape)
  try:
    return np.array(values, dtype=target.as_numpy_dtype).reshape(shape)
  except OverflowError as e:
    raise errors.invalid_argument(
        f"{what} has a value out of {target.name}'s range: {e}") from e


def _dtypes(specs: Mapping[str, tf.TensorSpec]) -> Dict[str, tf.DType]:
  return {name: spec.dtype for name, spec in specs.items()}


def _only_input(specs: Mapping[str, tf.TensorSpec], form: str) -> str:
  if len(specs) != 1:
    raise errors.invalid_argument(
        f"{form} must name the inputs in JSON objects: the signature takes "
        f"{sorted(specs)}")
  return next(iter(specs))


def instances_to_arrays(instances: Any, specs: Mapping[str, tf.TensorSpec]
                        ) -> Dict[str, np.ndarray]:
  """The inputs of the row format: one JSON object (or value) per row.

  Raises:
    errors.ServingError: INVALID_ARGUMENT for a malformed "instances".
  """
  if not isinstance(instances, list) or not instances:
    raise errors.invalid_argument(
        f"{INSTANCES!r} must be a non-empty list of rows")
  dtypes = _dtypes(specs)
  if not all(isinstance(r, dict) and not _is_b64(r) for r in instances):
    name = _only_input(specs, f"{INSTANCES!r} rows")
    return {name: to_array(instances, dtypes[name], f"input {name!r}")}
  names = sorted(instances[0])
  for i, row in enumerate(instances):
    if sorted(row) != names:
      raise errors.invalid_argument(
          f"{INSTANCES!r} row {i} has inputs {sorted(row)} where row 0 has "
          f"{names}: every row must name the same inputs")
  return {name: to_array([row[name] for row in instances], dtypes.get(name),
                         f"input {name!r}") for name in names}


def inputs_to_arrays(inputs: Any, specs: Mapping[str, tf.TensorSpec]
                     ) -> Dict[str, np.ndarray]:
  """The inputs of the columnar format: input name -> whole tensor.

  Raises:
    errors.ServingError: INVALID_ARGUMENT for a malformed "inputs".
  """
  dtypes = _dtypes(specs)
  if isinstance(inputs, dict) and not _is_b64(inputs):
    return {name: to_array(value, dtypes.get(name), f"input {name!r}")
            for name, value in inputs.items()}
  name = _only_input(specs, f"{INPUTS!r}")
  return {name: to_array(inputs, dtypes[name], f"input {name!r}")}


def parse_body(body: bytes) -> Tuple[str, str, Any]:
  """The signature name, the format (INSTANCES or INPUTS) and its value.

  Raises:
    errors.ServingError: INVALID_ARGUMENT for a body that is not a JSON
      object with exactly one of "instances" and "inputs".
  """
  try:
    parsed = json.loads(body)
  except (ValueError, UnicodeDecodeError) as e:
    raise errors.invalid_argument(f"the body is not valid JSON: {e}") from e
  if not isinstance(parsed, dict):
    raise errors.invalid_argument("the body must be a JSON object")
  forms = [k for k in (INSTANCES, INPUTS) if k in parsed]
  if len(forms) != 1:
    raise errors.invalid_argument(
        f"the body must have either {INSTANCES!r} (row format) or "
        f"{INPUTS!r} (columnar format), {'not both' if forms else 'got none'}")
  unknown = sorted(set(parsed) - {INSTANCES, INPUTS, SIGNATURE_NAME})
  if unknown:
    raise errors.invalid_argument(f"unknown keys in the body: {unknown}")
  signature_name = parsed.get(SIGNATURE_NAME, "")
  if not isinstance(signature_name, str):
    raise errors.invalid_argument(f"{SIGNATURE_NAME!r} must be a string")
  return signature_name, forms[0], parsed[forms[0]]


def _string_json(value: bytes) -> Any:
  try:
    return value.decode("utf-8")
  except UnicodeDecodeError:
    return {_B64: base64.b64encode(value).decode("ascii")}


def to_json(array: np.ndarray) -> Any:
  """A JSON value of an array: nested lists of numbers, strings or b64."""
  if array.dtype == object:
    values = array.ravel().tolist()
    try:  # All UTF-8 (ids): decoded at once.
      texts = list(map(bytes.decode, values))
    except (UnicodeDecodeError, TypeError):
      texts = [_string_json(v) for v in values]
    return _object_array(texts).reshape(array.shape).tolist()
  return array.tolist()


class JsonText(str):
  """JSON text that `dumps` writes as it is (an output's or a row's value)."""


# Float dtypes -> the dtype a value is read back as, and its max_digits10.
# TF Serving writes a half as a float.
_FLOAT_FORMS = {np.dtype(np.float16): (np.dtype(np.float32), 9),
                np.dtype(np.float32): (np.dtype(np.float32), 9),
                np.dtype(np.float64): (np.dtype(np.float64), 17)}


def _float_texts(values: np.ndarray) -> List[str]:
  """The JSON text of each value of a float array, in row-major order.

  Args:
    values: `[...]` float16, float32 or float64, native byte order.

  Returns:
    One text per value, as TF Serving's `WriteDecimal` writes it (see the
    module docstring).
  """
  dtype, digits = _FLOAT_FORMS[values.dtype]
  flat = values.ravel().astype(dtype)
  numbers = tuple(flat.tolist())
  if not numbers:
    return []
  short = "%g," * len(numbers) % numbers  # absl::StrCat: 6 digits.
  exact = np.fromstring(short, dtype=np.float64, sep=",").astype(dtype) == flat
  long = ((f"%.{digits}g," * len(numbers)) % numbers).split(",")
  texts = [s if keep else l for s, l, keep in zip(
      short.split(","), long, exact.tolist())]
  with np.errstate(invalid="ignore"):
    # A text without "." or "e" (a whole number, as texts read back
    # exactly) gets ".0"; non-finite ones get their names.
    special = ~np.isfinite(flat) | (flat == np.trunc(flat))
  for i in np.flatnonzero(special).tolist():
    value, text = numbers[i], texts[i]
    if math.isnan(value):
      texts[i] = "NaN"
    elif math.isinf(value):
      texts[i] = "Infinity" if value > 0 else "-Infinity"
    elif "e" not in text:
      texts[i] = text + ".0"
  return texts


def _rows(texts: List[str], shape: Tuple[int, ...]) -> List[str]:
  """The JSON text of each row (first dimension) of row-major value `texts`."""
  if len(shape) == 1:
    return texts
  step = len(texts) // shape[0] if shape[0] else 0
  return [_nested(texts[i * step:(i + 1) * step], shape[1:])
          for i in range(shape[0])]


def _nested(texts: List[str], shape: Tuple[int, ...]) -> str:
  """JSON lists of `shape` around the row-major value `texts`."""
  if not shape:
    return texts[0]
  return "[" + ", ".join(_rows(texts, shape)) + "]"


def _float_form(array: np.ndarray) -> Optional[np.ndarray]:
  """`array` in native byte order if `_float_texts` writes it, else None."""
  native = array.dtype.newbyteorder("=")
  return array.astype(native, copy=False) if native in _FLOAT_FORMS else None


def _output_value(array: np.ndarray) -> Any:
  """An output's whole value: JsonText for floats, else JSON values."""
  floats = _float_form(array)
  if floats is None:
    return to_json(array)
  return JsonText(_nested(_float_texts(floats), floats.shape))


def _output_rows(array: np.ndarray) -> List[Any]:
  """An output's value per row (first dimension; a scalar's whole value)."""
  floats = _float_form(array)
  if floats is None or not floats.shape:
    return _output_value(array)
  return [JsonText(row) for row in _rows(_float_texts(floats), floats.shape)]


def dumps(answer: Any) -> str:
  """The JSON text of an answer of `predictions` or `columns` (or any JSON).

  JsonText is written as it is, also as a dict value or list item; dict
  keys must be strings.
  """
  if isinstance(answer, JsonText):
    return str(answer)
  if isinstance(answer, dict):
    return "{" + ", ".join(f"{json.dumps(k)}: {dumps(v)}"
                           for k, v in answer.items()) + "}"
  if isinstance(answer, list) and any(
      isinstance(v, (JsonText, dict)) for v in answer):
    return "[" + ", ".join(dumps(v) for v in answer) + "]"
  return json.dumps(answer)


def predictions(outputs: Mapping[str, np.ndarray]) -> List[Any]:
  """The row format's answer: per row, its outputs (or its only output).

  Float values are JsonText: write the answer with `dumps`.
  """
  rows = {name: _output_rows(value) for name, value in outputs.items()}
  if len(rows) == 1:
    return next(iter(rows.values()))
  names = sorted(rows)
  return [dict(zip(names, row)) for row in zip(*(rows[n] for n in names))]


def columns(outputs: Mapping[str, np.ndarray]) -> Any:
  """The columnar format's answer: output name -> value (or the only one).

  Float values are JsonText: write the answer with `dumps`.
  """
  values = {name: _output_value(value) for name, value in outputs.items()}
  return next(iter(values.values())) if len(values) == 1 else values
