"""Row faults of raw search logs, found batch by batch with Arrow compute."""

from typing import (Any, Callable, Collection, Dict, Mapping, Optional,
                    Tuple, Union)

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.raw_logs import contract

# Fault reasons, in the order they are tested: a row gets the first that
# applies.
# Row-local checks come first, so the checks that relate rows to each other
# (duplicates, references, empty requests) only see rows that are valid in
# themselves.
NULL_ID = "null_id"
EMPTY_ID = "empty_id"
ID_TOO_LONG = "id_too_long"
NULL_VALUE = "null_value"
NON_FINITE_SCORE = "non_finite_score"
NON_FINITE_PRICE = "non_finite_price"
NEGATIVE_PRICE = "negative_price"
IMPLAUSIBLE_TIMESTAMP = "implausible_timestamp"
INCONSISTENT_POSITION = "inconsistent_position"
INTERACTION_NOT_EXPOSED = "interaction_not_exposed"
DUPLICATE_KEY = "duplicate_key"
UNKNOWN_REQUEST = "unknown_request"
UNKNOWN_ITEM = "unknown_item"
EMPTY_REQUEST = "empty_request"

REASONS = (
    NULL_ID,
    EMPTY_ID,
    ID_TOO_LONG,
    NULL_VALUE,
    NON_FINITE_SCORE,
    NON_FINITE_PRICE,
    NEGATIVE_PRICE,
    IMPLAUSIBLE_TIMESTAMP,
    INCONSISTENT_POSITION,
    INTERACTION_NOT_EXPOSED,
    DUPLICATE_KEY,
    UNKNOWN_REQUEST,
    UNKNOWN_ITEM,
    EMPTY_REQUEST,
)

# Characters of an id over the limit that reports and the quarantine keep.
SHOWN_ID_CHARS = 64

Batch = Union[pa.RecordBatch, pa.Table]
KeySet = Union[pa.Array, pa.ChunkedArray, Collection[str]]

_NO_FAULT = -1


def id_columns(table_name: str) -> Tuple[str, ...]:
  """The entity-id columns of a table, in table order."""
  return tuple(c.name for c in contract.TABLES[table_name].columns
               if c.name in contract.ID_COLUMNS)


def id_list_columns(table_name: str) -> Tuple[str, ...]:
  """The columns of a table that hold lists of ids (requests' user_history)."""
  return tuple(c.name for c in contract.TABLES[table_name].columns
               if c.name == contract.USER_HISTORY)


def fault_columns(table_name: str, reason: str) -> Tuple[str, ...]:
  """The columns of `table_name` whose values a fault `reason` is about."""
  table = contract.TABLES[table_name]
  if reason == NULL_ID:
    return id_columns(table_name)
  if reason in (EMPTY_ID, ID_TOO_LONG):
    return id_columns(table_name) + id_list_columns(table_name)
  if reason == NULL_VALUE:
    return _value_columns(table)
  if reason == NON_FINITE_SCORE:
    return contract.SCORE_COLUMNS
  if reason in (NON_FINITE_PRICE, NEGATIVE_PRICE):
    return (contract.PRICE,)
  if reason == IMPLAUSIBLE_TIMESTAMP:
    return contract.TS_COLUMNS
  if reason == INCONSISTENT_POSITION:
    return (contract.EXPOSED, contract.POSITION)
  if reason == INTERACTION_NOT_EXPOSED:
    return (contract.EXPOSED, contract.CLICKED, contract.PURCHASED)
  if reason == DUPLICATE_KEY:
    return (table.unique_key,) if table.unique_key else ()
  if reason in (UNKNOWN_REQUEST, EMPTY_REQUEST):
    return (contract.REQUEST_ID,)
  if reason == UNKNOWN_ITEM:
    return (contract.ITEM_ID,)
  raise ValueError(
      f"Unknown fault reason {reason!r}; expected one of {REASONS}.")


def clip_long_ids(values: Mapping[str, Any]) -> Dict[str, Any]:
  """Row values as reports show them: a string over the id limit is cut.

  Such a string (or list element) becomes its first SHOWN_ID_CHARS
  characters and its size, e.g. "xxxx... (1048576 bytes)".
  """

  def clip(value):
    if isinstance(value, list):
      return [clip(v) for v in value]
    if isinstance(value, str):
      size = len(value.encode("utf-8"))
      if size > contract.MAX_ID_BYTES:
        return f"{value[:SHOWN_ID_CHARS]}... ({size} bytes)"
    return value

  return {name: clip(value) for name, value in values.items()}


def row_fault_reasons(
    table_name: str,
    batch: Batch,
    known_request_ids: Optional[KeySet] = None,
    known_item_ids: Optional[KeySet] = None,
    seen_keys: Optional[KeySet] = None,
    requests_with_impressions: Optional[KeySet] = None,
) -> pa.StringArray:
  """The fault reason of every row of a batch of one table, null if valid.

  Checks, in the order of `REASONS` (the first that applies wins):
    null_id: null in request_id, user_id or item_id.
    empty_id: "" (the model's padding value) as an id or as an item id of
      user_history.
    id_too_long: an id, or an item id of user_history, longer than
      `contract.MAX_ID_BYTES` UTF-8 bytes.
    null_value: null in another required column, or a null element in a
      required list column; a null in an optional column (candidates'
      fine_score) is allowed, one in a nullable column (users' profile) is
      a coercion (`coercions.py`).
    non_finite_score: NaN or infinite fine_score.
    non_finite_price: NaN or infinite items' price.
    negative_price: items' price below 0.
    implausible_timestamp: ts outside [contract.MIN_TS, contract.END_TS).
    inconsistent_position: an impression exposed with position < 0, or not
      exposed with position != -1.
    interaction_not_exposed: an impression clicked or purchased but not
      exposed.
    duplicate_key: the table's unique key repeats a valid row earlier in the
      batch or a key in `seen_keys`; the first valid occurrence is kept.
    unknown_request: impressions or candidates whose request_id is not in
      `known_request_ids` (skipped when that is None).
    unknown_item: impressions, candidates or transactions whose item_id is
      not in `known_item_ids` (skipped when that is None).
    empty_request: a request whose id is not in `requests_with_impressions`
      (skipped when that is None).

  Args:
    table_name: a table of `contract.TABLES`.
    batch: rows of that table with every required column; the optional
      columns may be absent and extra columns are ignored.
    known_request_ids: ids of the valid requests.
    known_item_ids: ids of the valid catalog items.
    seen_keys: unique keys of valid rows of earlier batches of the table.
    requests_with_impressions: request ids of the valid impressions.

  Returns:
    A string array of `batch.num_rows` reasons from `REASONS`, null for a
    valid row.
  """
  table = contract.TABLES[table_name]
  batch = _as_record_batch(batch)
  _check_columns(table, batch)
  codes = np.full(batch.num_rows, _NO_FAULT, np.int8)
  ids = id_columns(table_name) + id_list_columns(table_name)
  _mark(codes, NULL_ID, _has_null(batch, id_columns(table_name)))
  _mark(codes, EMPTY_ID, _ids_where(batch, ids, _empty))
  _mark(codes, ID_TOO_LONG, _ids_where(batch, ids, _too_long))
  _mark(codes, NULL_VALUE, _has_null(batch, _value_columns(table)))
  for column in contract.SCORE_COLUMNS:
    if column in batch.schema.names:
      _mark(codes, NON_FINITE_SCORE, _non_finite(batch.column(column)))
  if table_name == contract.ITEMS:
    price = batch.column(contract.PRICE)
    _mark(codes, NON_FINITE_PRICE, _non_finite(price))
    _mark(codes, NEGATIVE_PRICE, _to_mask(pc.less(price, 0.0)))
  for column in contract.TS_COLUMNS:
    if column in batch.schema.names:
      _mark(codes, IMPLAUSIBLE_TIMESTAMP, _implausible(batch.column(column)))
  if table_name == contract.IMPRESSIONS:
    _mark(codes, INCONSISTENT_POSITION, _inconsistent_position(batch))
    _mark(codes, INTERACTION_NOT_EXPOSED, _interaction_not_exposed(batch))
  if table.unique_key is not None:
    keys = batch.column(table.unique_key)
    _mark(codes, DUPLICATE_KEY,
          _repeated_keys(keys, codes == _NO_FAULT, seen_keys))
  if _refers_to(table, contract.REQUEST_ID, contract.REQUESTS):
    _mark(codes, UNKNOWN_REQUEST,
          _not_in(batch.column(contract.REQUEST_ID), known_request_ids))
  if _refers_to(table, contract.ITEM_ID, contract.ITEMS):
    _mark(codes, UNKNOWN_ITEM,
          _not_in(batch.column(contract.ITEM_ID), known_item_ids))
  if table_name == contract.REQUESTS:
    _mark(codes, EMPTY_REQUEST,
          _not_in(batch.column(contract.REQUEST_ID), requests_with_impressions))
  return _reasons_array(codes)


def _value_columns(table: contract.Table) -> Tuple[str, ...]:
  """Required columns of a table that are not entity ids nor nullable."""
  return tuple(c.name for c in table.required_columns
               if c.name not in contract.ID_COLUMNS and not c.nullable)


def _as_record_batch(batch: Batch) -> pa.RecordBatch:
  if isinstance(batch, pa.RecordBatch):
    return batch
  batches = batch.combine_chunks().to_batches()
  if batches:
    return batches[0]
  return pa.RecordBatch.from_arrays(
      [pa.array([], f.type) for f in batch.schema], schema=batch.schema)


def _check_columns(table: contract.Table, batch: pa.RecordBatch) -> None:
  missing = [c.name for c in table.required_columns
             if c.name not in batch.schema.names]
  if missing:
    raise ValueError(
        f"A batch of table {table.name!r} lacks required columns {missing}.")


def _mark(codes: np.ndarray, reason: str, mask: np.ndarray) -> None:
  """Gives `reason` to the rows of `mask` that have no fault yet."""
  codes[(codes == _NO_FAULT) & mask] = REASONS.index(reason)


def _reasons_array(codes: np.ndarray) -> pa.StringArray:
  indices = pa.array(codes, mask=codes == _NO_FAULT)
  return pc.take(pa.array(REASONS, pa.string()), indices)


def _to_mask(values: Union[pa.Array, pa.ChunkedArray]) -> np.ndarray:
  """A boolean Arrow array as a NumPy mask, null counting as False."""
  return pc.fill_null(values, False).to_numpy(zero_copy_only=False)


def _has_null(batch: pa.RecordBatch, columns: Tuple[str, ...]) -> np.ndarray:
  """Rows with a null in any of `columns`, or in an element of a list one."""
  mask = np.zeros(batch.num_rows, bool)
  for name in columns:
    column = batch.column(name)
    mask |= _to_mask(pc.is_null(column))
    if pa.types.is_list(column.type):
      mask |= _null_element_rows(column)
  return mask


def _null_element_rows(column: pa.ListArray) -> np.ndarray:
  return _rows_of_elements(column, pc.is_null(pc.list_flatten(column)))


def _rows_of_elements(column: pa.ListArray, elements: pa.Array) -> np.ndarray:
  """Rows of a list column holding an element of the mask `elements`."""
  parents = pc.filter(pc.list_parent_indices(column), elements)
  mask = np.zeros(len(column), bool)
  mask[parents.to_numpy(zero_copy_only=False)] = True
  return mask


def _ids_where(batch: pa.RecordBatch, columns: Tuple[str, ...],
               test: Callable[[pa.Array], pa.Array]) -> np.ndarray:
  """Rows where `test` holds for an id (or an id list's element); nulls
  are left to the null checks."""
  mask = np.zeros(batch.num_rows, bool)
  for name in columns:
    column = batch.column(name)
    if pa.types.is_list(column.type):
      elements = pc.fill_null(test(pc.list_flatten(column)), False)
      mask |= _rows_of_elements(column, elements)
    else:
      mask |= _to_mask(test(column))
  return mask


def _empty(ids: pa.Array) -> pa.Array:
  return pc.equal(pc.binary_length(ids), 0)


def _too_long(ids: pa.Array) -> pa.Array:
  return pc.greater(pc.binary_length(ids), contract.MAX_ID_BYTES)


def _non_finite(column: pa.Array) -> np.ndarray:
  """Rows holding NaN or ±inf; nulls are left to the null checks."""
  return _to_mask(pc.invert(pc.is_finite(column)))


def _implausible(ts: pa.Array) -> np.ndarray:
  return _to_mask(pc.or_(pc.less(ts, contract.MIN_TS),
                         pc.greater_equal(ts, contract.END_TS)))


def _inconsistent_position(batch: pa.RecordBatch) -> np.ndarray:
  exposed = _to_mask(batch.column(contract.EXPOSED))
  position = batch.column(contract.POSITION)
  negative = _to_mask(pc.less(position, 0))
  not_marked = _to_mask(
      pc.not_equal(position, contract.NOT_EXPOSED_POSITION))
  return (exposed & negative) | (~exposed & not_marked)


def _interaction_not_exposed(batch: pa.RecordBatch) -> np.ndarray:
  exposed = _to_mask(batch.column(contract.EXPOSED))
  return ~exposed & (_to_mask(batch.column(contract.CLICKED))
                     | _to_mask(batch.column(contract.PURCHASED)))


def _repeated_keys(keys: pa.Array, eligible: np.ndarray,
                   seen_keys: Optional[KeySet]) -> np.ndarray:
  """Eligible rows whose key is in `seen_keys` or on an earlier eligible row."""
  rows = np.flatnonzero(eligible)
  candidates = keys.take(pa.array(rows, pa.int64()))
  codes = candidates.dictionary_encode().indices.to_numpy(zero_copy_only=False)
  first = np.zeros(len(rows), bool)
  first[np.unique(codes, return_index=True)[1]] = True
  if seen_keys is not None:
    first &= ~_to_mask(pc.is_in(candidates, value_set=_value_set(seen_keys)))
  mask = np.zeros(len(keys), bool)
  mask[rows[~first]] = True
  return mask


def _refers_to(table: contract.Table, column: str, target: str) -> bool:
  """Whether `column` of `table` refers to rows of table `target`."""
  names = {c.name for c in table.columns}
  return table.name != target and column in names


def _not_in(values: pa.Array, value_set: Optional[KeySet]) -> np.ndarray:
  """Rows whose value is not in `value_set`; no rows if it is None."""
  if value_set is None:
    return np.zeros(len(values), bool)
  return ~_to_mask(pc.is_in(values, value_set=_value_set(value_set)))


def _value_set(keys: KeySet) -> Union[pa.Array, pa.ChunkedArray]:
  if isinstance(keys, (pa.Array, pa.ChunkedArray)):
    return keys
  return pa.array(list(keys), pa.string())
