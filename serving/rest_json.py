"""TF Serving's REST JSON to arrays and back: the row ("instances") and columnar ("inputs") formats.

A JSON value becomes an array of the signature input's dtype when its values
fit it (integers for an integer or float input, numbers for a float input,
strings or {"b64": ...} for a string input); otherwise it keeps the dtype
of its values (int64, float32, string, bool), so that Signature.check
refuses it with the same message as over gRPC. Outputs are written as TF
Serving writes them (`dumps`): numbers as JSON numbers, a float with as
many digits as its dtype needs to be read back exactly (9 for float32, not
the 17 of a Python float) and whole ones with ".0"; -inf, inf and NaN as
-Infinity, Infinity and NaN, which Python's and JavaScript's JSON parsers
read; strings as text, or as {"b64": ...} when they are not UTF-8.
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
    array = np.empty(len(values), dtype=object)
    array[:] = (list(map(str.encode, values)) if types == {str}
                else [_bytes(v, what) for v in values])
    return array.reshape(shape)
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
    strings = np.empty(len(texts), dtype=object)
    strings[:] = texts
    return strings.reshape(array.shape).tolist()
  return array.tolist()


# Significant digits that read back as the same value (max_digits10).
_FLOAT_DIGITS = {np.dtype(np.float16): 5, np.dtype(np.float32): 9,
                 np.dtype(np.float64): 17}


def _output_value(array: np.ndarray) -> Any:
  """An output as `dumps` writes it: float arrays kept, the rest as JSON."""
  return array if array.dtype in _FLOAT_DIGITS else to_json(array)


def _special_float(value: float, text: str) -> str:
  """The JSON text of a whole or non-finite float, from its %g `text`."""
  if math.isnan(value):
    return "NaN"
  if math.isinf(value):
    return "Infinity" if value > 0 else "-Infinity"
  return text if "e" in text else text + ".0"


def _float_texts(array: np.ndarray) -> List[str]:
  """The JSON text of each value of a float array, in row-major order.

  As TF Serving writes floats: enough digits for the dtype to read each one
  back exactly, whole numbers with ".0" (a reader must not take them for
  integers), and -Infinity, Infinity and NaN.
  """
  values = array.ravel().tolist()
  if not values:
    return []
  form = f"%.{_FLOAT_DIGITS[array.dtype]}g"
  texts = ((form + ",") * len(values) % tuple(values)).split(",")[:-1]
  flat = array.ravel()
  with np.errstate(invalid="ignore"):
    special = ~np.isfinite(flat) | (flat == np.trunc(flat))
  for i in np.flatnonzero(special).tolist():
    texts[i] = _special_float(values[i], texts[i])
  return texts


def _nested(texts: List[str], shape: Tuple[int, ...]) -> str:
  """JSON lists of `shape` around row-major value texts."""
  if not shape:
    return texts[0]
  if len(shape) == 1:
    return "[" + ", ".join(texts) + "]"
  step = len(texts) // shape[0] if shape[0] else 0
  return "[" + ", ".join(_nested(texts[i * step:(i + 1) * step], shape[1:])
                         for i in range(shape[0])) + "]"


def dumps(answer: Any) -> str:
  """The JSON text of an answer whose float outputs are arrays (see above)."""
  if isinstance(answer, (np.ndarray, np.floating)):  # A row may be a scalar.
    answer = np.asarray(answer)
    return _nested(_float_texts(answer), answer.shape)
  if isinstance(answer, dict):
    return "{" + ", ".join(f"{json.dumps(str(k))}: {dumps(v)}"
                           for k, v in answer.items()) + "}"
  if isinstance(answer, list) and any(
      isinstance(v, (np.ndarray, np.floating, dict)) for v in answer):
    return "[" + ", ".join(dumps(v) for v in answer) + "]"
  return json.dumps(answer)


def predictions(outputs: Mapping[str, np.ndarray]) -> Any:
  """The row format's answer: per row, its outputs (or its only output).

  Float outputs stay arrays: write the answer with `dumps`.
  """
  values = {name: _output_value(value) for name, value in outputs.items()}
  if len(values) == 1:
    return next(iter(values.values()))
  names = sorted(values)
  return [dict(zip(names, row)) for row in zip(*(values[n] for n in names))]


def columns(outputs: Mapping[str, np.ndarray]) -> Any:
  """The columnar format's answer: output name -> value (or the only one).

  Float outputs stay arrays: write the answer with `dumps`.
  """
  values = {name: _output_value(value) for name, value in outputs.items()}
  return next(iter(values.values())) if len(values) == 1 else values
