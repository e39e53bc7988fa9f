"""Row records carried between the Beam stages, with their file-and-row provenance."""

import collections
import dataclasses
import json
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pyarrow as pa

from components.raw_logs import contract as c


@dataclasses.dataclass(frozen=True, order=True)
class Origin:
  """Where a row came from: file relative to the logs dir, row in the file."""
  file: str
  row: int


@dataclasses.dataclass(frozen=True)
class Quarantined:
  """A row set aside, with the reason and its values."""
  table: str
  origin: Origin
  reason: str
  values: Dict[str, Any]

  def to_json(self) -> str:
    return json.dumps({"table": self.table, "file": self.origin.file,
                       "row": self.origin.row, "reason": self.reason,
                       "values": {k: _jsonable(v)
                                  for k, v in self.values.items()}},
                      sort_keys=True)


@dataclasses.dataclass(frozen=True)
class RequestRow:
  origin: Origin
  request_id: str
  user_id: str
  query: str
  ts: int
  history: Sequence[str]


@dataclasses.dataclass(frozen=True)
class UserRow:
  origin: Origin
  age_bucket: int
  gender: str
  purchase_power: int
  coercion: Optional[str] = None  # `coercions.COERCIONS` name, if coerced.


@dataclasses.dataclass
class RowChunk:
  """Rows of one request from one batch of impressions or candidates.

  `columns` maps column name to a list of values, one per row; `rows` are
  the row indices in `file`; `coerced` counts the rows per coercion.
  """
  table: str
  request_id: str
  file: str
  rows: List[int]
  columns: Dict[str, list]
  coerced: Dict[str, int] = dataclasses.field(default_factory=dict)

  def __len__(self) -> int:
    return len(self.rows)

  def quarantine(self, reason: str) -> List[Quarantined]:
    return [Quarantined(self.table, Origin(self.file, row), reason,
                        {c.REQUEST_ID: self.request_id,
                         **{k: v[i] for k, v in self.columns.items()}})
            for i, row in enumerate(self.rows)]


def chunks_by_request(table: str, file: str, batch: pa.RecordBatch,
                      first_row: int, keep: np.ndarray,
                      coercions: Sequence[Optional[str]]) -> List[tuple]:
  """Splits the kept rows of a batch into (request_id, RowChunk) per request.

  Args:
    table: impressions or candidates.
    file: the batch's file, relative to the logs dir.
    batch: the rows, request_id among the columns.
    first_row: row index of the batch's first row in its file.
    keep: bool `[num_rows]`, rows to include.
    coercions: `[num_rows]`, the coercion of each row or None.
  """
  index = np.flatnonzero(keep)
  if index.size == 0:
    return []
  columns = {name: _to_numpy(batch.column(name))[index]
             for name in batch.schema.names}
  request_ids = columns[c.REQUEST_ID]
  order = np.argsort(request_ids, kind="stable")
  sorted_ids = request_ids[order]
  starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
  ends = np.r_[starts[1:], sorted_ids.size]
  out = []
  for start, end in zip(starts, ends):
    rows = order[start:end]
    coerced = collections.Counter(coercions[i] for i in index[rows])
    coerced.pop(None, None)
    out.append((sorted_ids[start], RowChunk(
        table, sorted_ids[start], file, (index[rows] + first_row).tolist(),
        {name: values[rows].tolist() for name, values in columns.items()
         if name != c.REQUEST_ID}, dict(coerced))))
  return out


def _to_numpy(column: pa.Array) -> np.ndarray:
  """Values as NumPy; nulls (allowed only in optional columns) become None."""
  if column.null_count:
    return np.array(column.to_pylist(), dtype=object)
  return column.to_numpy(zero_copy_only=False)


def _jsonable(value: Any) -> Any:
  if isinstance(value, float) and not np.isfinite(value):
    return str(value)
  if isinstance(value, (np.generic,)):
    return value.item()
  if isinstance(value, (list, tuple, np.ndarray)):
    return [_jsonable(v) for v in value]
  return value
