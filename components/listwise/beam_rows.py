"""Beam DoFns that read raw-log Parquet batches, quarantine faulty rows and key the valid ones."""

from typing import Iterator, Optional

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.listwise import records
from components.listwise import report as report_lib
from components.raw_logs import coercions
from components.raw_logs import contract as c
from components.raw_logs import faults
from components.raw_logs import files as log_files

QUARANTINE = "quarantine"
COUNTS = "counts"
# Tagged output of the transactions' CheckRows: (item_id, ts) of every valid
# transaction, for the item's sales.
SALES = "sales"
# Rows per Parquet read batch in Beam. A batch can cross a stage boundary as
# one element; large elements (hundreds of MB at 1M rows) strain the runners'
# data planes, so batches stay small.
READ_BATCH_ROWS = 1 << 16


def count(table: str, kind: str, n: int = 1):
  return beam.pvalue.TaggedOutput(COUNTS, ((table, kind), n))


class ReadBatches(beam.DoFn):
  """LogFile -> (LogFile, first row in the file, RecordBatch), batch-wise."""

  def __init__(self, logs_dir: str, batch_rows: int = READ_BATCH_ROWS):
    self._logs_dir = logs_dir
    self._batch_rows = batch_rows
    self._logs = None

  def setup(self):
    self._logs = log_files.LogFiles(self._logs_dir)

  def process(self, log_file: log_files.LogFile) -> Iterator[tuple]:
    columns = log_files.columns_to_read(log_file.table,
                                        self._logs.schema(log_file))
    first = 0
    for batch in self._logs.batches(log_file, columns, self._batch_rows):
      yield log_file, first, batch
      first += batch.num_rows


class CheckRows(beam.DoFn):
  """Quarantines row-local faults of a batch and emits its valid rows.

  Row-local faults are those of `faults.row_fault_reasons` without lookups,
  plus unknown items when the valid item ids are given as a side input.
  Duplicate keys, unknown requests and empty requests need joins and are
  found downstream. Valid rows are emitted coerced (`coercions.coerce`),
  with their coercion, which is counted where the row is used; quarantined
  rows keep the values read. Outputs: main (table-specific keyed rows),
  QUARANTINE (records.Quarantined), COUNTS and, for transactions, SALES.
  """

  def __init__(self, table: str):
    self._table = table

  def process(self, element, item_ids: Optional[pa.Array] = None):
    log_file, first, batch = element
    reasons = faults.row_fault_reasons(self._table, batch,
                                       known_item_ids=item_ids)
    yield count(self._table, report_lib.READ, batch.num_rows)
    bad = np.flatnonzero(~np.asarray(pc.is_null(reasons)))
    if bad.size:
      reasons_list = reasons.to_pylist()
      rows = batch.take(pa.array(bad)).to_pylist()
      for index, values in zip(bad, rows):
        reason = reasons_list[index]
        if reason == faults.ID_TOO_LONG:
          values = faults.clip_long_ids(values)
        yield count(self._table, report_lib.quarantine_key(reason))
        yield beam.pvalue.TaggedOutput(QUARANTINE, records.Quarantined(
            self._table, records.Origin(log_file.name, first + int(index)),
            reason, values))
    keep = np.asarray(pc.is_null(reasons))
    batch, coerced = coercions.coerce(self._table, batch)
    yield from self._valid(log_file.name, first, batch, keep,
                           coerced.to_pylist())

  def _valid(self, file: str, first: int, batch: pa.RecordBatch,
             keep: np.ndarray, coerced: list):
    table = self._table
    if table in (c.IMPRESSIONS, c.CANDIDATES):
      yield from records.chunks_by_request(table, file, batch, first, keep,
                                           coerced)
      return
    index = np.flatnonzero(keep)
    rows = batch.take(pa.array(index)).to_pylist() if index.size else []
    for i, row in zip(index, rows):
      origin = records.Origin(file, first + int(i))
      if table == c.REQUESTS:
        yield row[c.REQUEST_ID], records.RequestRow(
            origin, row[c.REQUEST_ID], row[c.USER_ID], row[c.QUERY],
            int(row[c.TS]), tuple(row[c.USER_HISTORY]))
      elif table == c.USERS:
        yield row[c.USER_ID], records.UserRow(
            origin, int(row[c.AGE_BUCKET]), row[c.GENDER],
            int(row[c.PURCHASE_POWER]), coerced[i])
      elif table == c.ITEMS:
        yield row[c.ITEM_ID], (origin, (row[c.CATEGORY], row[c.BRAND],
                                        float(row[c.PRICE])))
      elif table == c.TRANSACTIONS:
        # Every valid transaction is used: in-search purchases through the
        # impressions' labels, the others by attribution, all in sales.
        yield count(table, report_lib.USED)
        yield beam.pvalue.TaggedOutput(SALES, (row[c.ITEM_ID],
                                               int(row[c.TS])))
        if row[c.SCENE] != c.SEARCH_SCENE:
          yield row[c.USER_ID], (int(row[c.TS]), row[c.ITEM_ID])


class KeepFirst(beam.DoFn):
  """(key, [(origin, value) or row with .origin]) -> the first by origin.

  Later rows with the same key are quarantined as duplicate keys. The kept
  row is counted as used unless `count_used` is False (requests, which can
  still turn out empty).
  """

  def __init__(self, table: str, count_used: bool = True):
    self._table = table
    self._count_used = count_used

  def process(self, element):
    key, rows = element
    ordered = sorted(rows, key=_origin)
    first, rest = ordered[0], ordered[1:]
    if self._count_used:
      yield count(self._table, report_lib.USED)
    for row in rest:
      yield count(self._table, report_lib.quarantine_key(faults.DUPLICATE_KEY))
      yield beam.pvalue.TaggedOutput(QUARANTINE, records.Quarantined(
          self._table, _origin(row), faults.DUPLICATE_KEY,
          {c.TABLES[self._table].unique_key: key}))
    yield key, first


def _origin(row) -> records.Origin:
  return row[0] if isinstance(row, tuple) else row.origin
