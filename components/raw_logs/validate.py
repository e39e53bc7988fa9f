"""Checks a raw logs directory against the contract and counts row faults."""

import dataclasses
import functools
import math
from typing import Any, Dict, List, Mapping, Optional

import pyarrow as pa
import pyarrow.compute as pc

from components.raw_logs import coercions as coercions_lib
from components.raw_logs import contract
from components.raw_logs import faults
from components.raw_logs import files as log_files

LogSchemaError = log_files.LogSchemaError

# Rows per batch read from a Parquet file; tests lower it to cover batch edges.
_BATCH_ROWS = log_files.BATCH_ROWS
# Example rows kept per (table, reason).
MAX_EXAMPLES = 3


@dataclasses.dataclass(frozen=True)
class FaultExample:
  """One faulty row: its file (relative to the logs dir), row and values."""
  file: str
  row: int
  values: Mapping[str, Any]

  def to_dict(self) -> Dict[str, Any]:
    return {"file": self.file, "row": self.row,
            "values": {k: _json_value(v) for k, v in self.values.items()}}


@dataclasses.dataclass
class ValidationReport:
  """Rows read per present table, row-fault counts and examples, coercions.

  Attributes:
    rows_read: table -> rows read; tables absent from the logs are left out.
    faults: table -> reason -> number of rows; only non-zero counts.
    examples: table -> reason -> up to `MAX_EXAMPLES` rows, in file order.
    coercions: table -> coercion (`coercions.COERCIONS`) -> number of valid
      rows coerced; only non-zero counts. Coercions are not faults.
    skipped_files: table -> entries of its folder that are not read (files
      not named *.parquet, subfolders); only tables with some.
  """
  rows_read: Dict[str, int] = dataclasses.field(default_factory=dict)
  faults: Dict[str, Dict[str, int]] = dataclasses.field(default_factory=dict)
  examples: Dict[str, Dict[str, List[FaultExample]]] = dataclasses.field(
      default_factory=dict)
  coercions: Dict[str, Dict[str, int]] = dataclasses.field(
      default_factory=dict)
  skipped_files: Dict[str, List[str]] = dataclasses.field(
      default_factory=dict)

  @property
  def ok(self) -> bool:
    return not any(self.faults.values())

  def faulty_rows(self, table: str) -> int:
    return sum(self.faults.get(table, {}).values())

  def to_dict(self) -> Dict[str, Any]:
    return {
        "ok": self.ok,
        "rows_read": dict(self.rows_read),
        "faults": {t: dict(r) for t, r in self.faults.items()},
        "examples": {
            t: {r: [e.to_dict() for e in rows] for r, rows in by_reason.items()}
            for t, by_reason in self.examples.items()
        },
        "coercions": {t: dict(r) for t, r in self.coercions.items()},
        "skipped_files": {t: list(n) for t, n in self.skipped_files.items()},
    }

  def format(self) -> str:
    """A text table of rows read and faults per table, then the examples."""
    lines = [f"{'table / reason':<28}{'rows read':>12}{'faulty':>12}"]
    for table in contract.TABLES:
      if table not in self.rows_read:
        lines.append(f"{table:<28}{'absent':>12}")
        continue
      lines.append(f"{table:<28}{self.rows_read[table]:>12}"
                   f"{self.faulty_rows(table):>12}")
      for reason, count in self.faults.get(table, {}).items():
        lines.append(f"{'  ' + reason:<28}{'':>12}{count:>12}")
    lines.append("")
    lines.append("OK: no row faults." if self.ok else "Examples:")
    for table, by_reason in self.examples.items():
      for reason, rows in by_reason.items():
        lines.append(f"  {table} / {reason}")
        for example in rows:
          values = ", ".join(f"{k}={v!r}" for k, v in example.values.items())
          lines.append(f"    {example.file} row {example.row}: {values}")
    if self.coercions:
      lines.append("Coerced (valid rows kept with a value changed):")
    for table, by_name in self.coercions.items():
      for name, count in by_name.items():
        lines.append(f"  {table} / {name}: {count}")
    if self.skipped_files:
      lines.append("Skipped, not .parquet files (subfolders are not read):")
    for names in self.skipped_files.values():
      lines.extend(f"  {name}" for name in names)
    return "\n".join(lines)


def validate_logs(logs_dir: str) -> ValidationReport:
  """Checks every table of a logs directory and counts its row faults.

  Args:
    logs_dir: a local path or a filesystem URI (e.g. gs://...) holding one
      folder of Parquet files per table, `<logs_dir>/<table>/*.parquet`.

  Returns:
    The report of rows read and row faults per table.

  Raises:
    LogSchemaError: a required table has no Parquet files, a file is not
      readable Parquet, lacks a required column or has a column of the wrong
      type. All schemas are checked before any data is read.
  """
  logs = log_files.LogFiles(logs_dir)
  files = log_files.checked_table_files(logs)
  report = _find_row_faults(logs, files)
  report.skipped_files = {t: logs.skipped_entries(t) for t in contract.TABLES
                          if logs.skipped_entries(t)}
  return report


def _find_row_faults(
    logs: "log_files.LogFiles", files: Mapping[str, List["log_files.LogFile"]]) -> ValidationReport:
  """Scans the tables in dependency order; see `faults.row_fault_reasons`."""
  report = ValidationReport()
  scan = functools.partial(_scan_table, logs, files)
  # Requests are read twice: their emptiness depends on the impressions, whose
  # validity depends on the requests.
  request_ids = scan(contract.REQUESTS, ValidationReport())
  item_ids = scan(contract.ITEMS, report)
  scan(contract.USERS, report)
  requests_with_impressions = scan(
      contract.IMPRESSIONS, report, collect=contract.REQUEST_ID,
      known_request_ids=request_ids, known_item_ids=item_ids)
  request_ids = scan(contract.REQUESTS, report,
                     requests_with_impressions=requests_with_impressions)
  scan(contract.TRANSACTIONS, report, known_item_ids=item_ids)
  scan(contract.CANDIDATES, report, known_request_ids=request_ids,
       known_item_ids=item_ids)
  return _in_table_order(report)


def _scan_table(logs: log_files.LogFiles, files: Mapping[str, List[log_files.LogFile]], table: str,
                report: ValidationReport, collect: Optional[str] = None,
                **lookups: pa.Array) -> pa.Array:
  """Records the row faults of a table in `report`.

  Args:
    logs: the logs directory.
    files: the Parquet files of every table, schemas checked.
    table: the table to scan.
    report: where rows read and faults are recorded.
    collect: the column whose distinct values on valid rows are returned;
      defaults to the table's unique key, which duplicates are checked against.
    **lookups: the id sets of `faults.row_fault_reasons`.

  Returns:
    The distinct values of `collect` on valid rows (empty if there is none).
  """
  unique_key = contract.TABLES[table].unique_key
  collect = collect or unique_key
  keys = _DistinctKeys()
  if files[table]:
    report.rows_read.setdefault(table, 0)
  for log_file in files[table]:
    columns = log_files.columns_to_read(table, logs.schema(log_file))
    first_row = 0
    for batch in logs.batches(log_file, columns, _BATCH_ROWS):
      seen = keys.array() if unique_key else None
      reasons = faults.row_fault_reasons(table, batch, seen_keys=seen,
                                         **lookups)
      _record_batch(report, log_file, first_row, batch, reasons)
      _count(report.coercions, table, pc.filter(
          coercions_lib.coerce(table, batch)[1], pc.is_null(reasons)))
      if collect:
        keys.add(batch.column(collect).filter(pc.is_null(reasons)))
      first_row += batch.num_rows
  return keys.array()


def _record_batch(report: ValidationReport, log_file: log_files.LogFile,
                  first_row: int,
                  batch: pa.RecordBatch, reasons: pa.StringArray) -> None:
  """Adds a batch that starts at row `first_row` of its file to `report`."""
  table = log_file.table
  report.rows_read[table] = report.rows_read.get(table, 0) + batch.num_rows
  for reason in _count(report.faults, table, reasons):
    examples = report.examples.setdefault(table, {}).setdefault(reason, [])
    room = MAX_EXAMPLES - len(examples)
    if room <= 0:
      continue
    rows = pc.indices_nonzero(pc.equal(reasons, reason))[:room].to_pylist()
    examples.extend(
        FaultExample(log_file.name, first_row + row,
                     _example_values(table, reason, batch, row))
        for row in rows)


def _count(counts: Dict[str, Dict[str, int]], table: str,
           names: pa.StringArray) -> List[str]:
  """Adds the non-null `names` to counts[table]; returns the names found."""
  found = []
  for entry in pc.value_counts(names.drop_null()).to_pylist():
    by_name = counts.setdefault(table, {})
    by_name[entry["values"]] = by_name.get(entry["values"], 0) + entry["counts"]
    found.append(entry["values"])
  return found


class _DistinctKeys:
  """A growing set of string keys held as Arrow arrays."""

  def __init__(self):
    self._chunks: List[pa.Array] = []
    self._array: Optional[pa.Array] = None

  def add(self, keys: pa.Array) -> None:
    self._chunks.append(pc.unique(keys))
    self._array = None

  def array(self) -> pa.Array:
    if self._array is None:
      merged = pa.concat_arrays(self._chunks) if self._chunks else pa.array(
          [], pa.string())
      self._array = pc.unique(merged)
      self._chunks = [self._array]
    return self._array


def _example_values(table: str, reason: str, batch: pa.RecordBatch,
                    row: int) -> Dict[str, Any]:
  """The ids of a faulty row and the values its fault is about."""
  about = faults.fault_columns(table, reason)
  shown = set(about) | set(faults.id_columns(table))
  values = {}
  for column in contract.TABLES[table].columns:
    name = column.name
    if name not in shown or name not in batch.schema.names:
      continue
    value = batch.column(name)[row].as_py()
    if reason == faults.NULL_VALUE and name in about and not _holds_null(value):
      continue
    values[name] = value
  if reason == faults.ID_TOO_LONG:
    return faults.clip_long_ids(values)
  return values


def _holds_null(value: Any) -> bool:
  return value is None or (isinstance(value, list) and None in value)


def _json_value(value: Any) -> Any:
  """A value with NaN and infinities spelled as strings, for strict JSON."""
  if isinstance(value, float) and not math.isfinite(value):
    return str(value)
  return value


def _in_table_order(report: ValidationReport) -> ValidationReport:
  """The report with tables in contract order and reasons in check order."""
  order = list(contract.TABLES)

  def by_table(mapping: Mapping[str, Any]) -> Dict[str, Any]:
    return {t: mapping[t] for t in order if t in mapping}

  def by_reason(mapping: Mapping[str, Any]) -> Dict[str, Any]:
    return {r: mapping[r] for r in faults.REASONS + coercions_lib.COERCIONS
            if r in mapping}

  return ValidationReport(
      rows_read=by_table(report.rows_read),
      faults={t: by_reason(r) for t, r in by_table(report.faults).items()},
      examples={t: by_reason(r)
                for t, r in by_table(report.examples).items()},
      coercions={t: by_reason(r)
                 for t, r in by_table(report.coercions).items()})
