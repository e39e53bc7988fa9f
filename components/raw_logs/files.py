"""Parquet files of a raw logs directory on a local or remote filesystem, and their schema check."""

import contextlib
import dataclasses
import hashlib
import logging
import os
from typing import Dict, Iterator, List, Optional, Tuple

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from components.raw_logs import contract

# Rows per batch read from a Parquet file; bounds memory on large tables.
BATCH_ROWS = 1 << 20
# Names of metadata entries in a table folder, never read nor reported.
_HIDDEN_PREFIXES = (".", "_")
# The first (and last) bytes of every Parquet file.
_PARQUET_MAGIC = b"PAR1"


class LogSchemaError(ValueError):
  """A logs directory breaks the schema part of the contract."""

  def __init__(self, table: str, path: str, problem: str,
               column: Optional[str] = None):
    self.table = table
    self.path = path
    self.column = column
    where = f"table {table!r}, file {path!r}"
    if column is not None:
      where += f", column {column!r}"
    super().__init__(f"Raw logs {where}: {problem}")


@dataclasses.dataclass(frozen=True)
class LogFile:
  table: str
  path: str  # Path on the logs filesystem.
  name: str  # "<table>/<file name>", relative to the logs directory.


class LogFiles:
  """The Parquet files of a logs directory on a local or remote filesystem."""

  def __init__(self, logs_dir: str):
    if "://" in logs_dir:
      self._fs, self._root = pafs.FileSystem.from_uri(logs_dir)
    else:
      self._fs, self._root = pafs.LocalFileSystem(), os.path.abspath(logs_dir)
    self._logs_dir = logs_dir

  def _listing(self, table: str) -> Tuple[List[pafs.FileInfo], List[str]]:
    """The table's Parquet files (name, size, mtime) sorted by name, and the
    entries of its folder that are not read.

    Other entries whose name starts with "." or "_" (`_SUCCESS`, `.crc`
    files) are metadata by the Hadoop, Spark and Arrow convention and are
    left out of both. The rest, files not named `*.parquet` and subfolders
    (hive-style partitions such as `date=2026-01-01/` are not read), are
    skipped, named relative to the logs directory, a subfolder with a
    trailing "/".

    Raises:
      LogSchemaError: the table's path is a file, not a folder.
    """
    folder = contract.table_dir(self._root, table)
    if self._fs.get_file_info(folder).type == pafs.FileType.File:
      raise LogSchemaError(
          table, contract.table_dir(self._logs_dir, table),
          "is a file; a table is a folder of .parquet files")
    infos = sorted(self._fs.get_file_info(
        pafs.FileSelector(folder, allow_not_found=True)),
                   key=lambda i: i.base_name)
    parquet, skipped = [], []
    for info in infos:
      is_file = info.type == pafs.FileType.File
      if is_file and info.base_name.endswith(".parquet"):
        parquet.append(info)
      elif not info.base_name.startswith(_HIDDEN_PREFIXES):
        skipped.append(f"{table}/{info.base_name}{'' if is_file else '/'}")
    return parquet, skipped

  def skipped_entries(self, table: str) -> List[str]:
    """Files of the table's folder that are not Parquet, and subfolders."""
    return self._listing(table)[1]

  def table_files(self, table: str) -> List[LogFile]:
    """The table's Parquet files by name; fails if a required table has none.

    Logs a warning naming the entries of the folder it skips.
    """
    folder = contract.table_dir(self._root, table)
    infos, skipped = self._listing(table)
    if skipped:
      logging.warning(
          "raw logs table %r: skipped %d folder entries that are not "
          ".parquet files (subfolders such as hive-style partitions are not "
          "read): %s", table, len(skipped), ", ".join(skipped))
    names = [i.base_name for i in infos]
    if not names and not contract.TABLES[table].optional:
      if self._fs.get_file_info(self._root).type == pafs.FileType.NotFound:
        raise LogSchemaError(
            table, contract.table_dir(self._logs_dir, table),
            f"the logs directory {self._logs_dir!r} does not exist")
      raise LogSchemaError(
          table, contract.table_dir(self._logs_dir, table),
          "required table has no .parquet files")
    return [LogFile(table, f"{folder}/{n}", f"{table}/{n}") for n in names]

  def fingerprint(self) -> str:
    """A digest of every table file's name, size and modification time.

    It changes when a file the listwise stage reads is added, removed,
    rewritten or touched, so a cached run is reused only on the same files.
    """
    digest = hashlib.sha256()
    for table in contract.TABLES:
      for info in self._listing(table)[0]:
        digest.update(f"{table}/{info.base_name}\t{info.size}\t"
                      f"{info.mtime_ns}\n".encode())
    return digest.hexdigest()

  def schema(self, log_file: LogFile) -> pa.Schema:
    """The file's schema, from its footer, after checking that it starts
    as a Parquet file does (a file whose first bytes were overwritten has
    an intact footer and fails only when its data is read)."""
    try:
      with self._fs.open_input_file(log_file.path) as stream:
        head = stream.read(len(_PARQUET_MAGIC))
    except (pa.ArrowException, OSError) as e:
      raise LogSchemaError(log_file.table, log_file.path,
                           f"unreadable Parquet file ({e})") from e
    if head != _PARQUET_MAGIC:
      raise LogSchemaError(
          log_file.table, log_file.path,
          f"not a Parquet file: it starts with {head!r}, not "
          f"{_PARQUET_MAGIC!r} (overwritten or not Parquet)")
    with self._open(log_file) as parquet_file:
      return parquet_file.schema_arrow

  def batches(self, log_file: LogFile, columns: List[str],
              batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    with self._open(log_file) as parquet_file:
      yield from parquet_file.iter_batches(
          batch_size=batch_rows, columns=columns)

  @contextlib.contextmanager
  def _open(self, log_file: LogFile) -> Iterator[pq.ParquetFile]:
    """Opens a Parquet file; read failures become `LogSchemaError`."""
    try:
      with self._fs.open_input_file(log_file.path) as stream:
        yield pq.ParquetFile(stream)
    except (pa.ArrowException, OSError) as e:
      raise LogSchemaError(log_file.table, log_file.path,
                           f"unreadable Parquet file ({e})") from e


def check_schema(table: str, log_file: LogFile, schema: pa.Schema) -> None:
  for column in contract.TABLES[table].columns:
    indices = schema.get_all_field_indices(column.name)
    if not indices and column.optional:
      continue
    if len(indices) != 1:
      problem = ("required column is missing" if not indices
                 else f"column appears {len(indices)} times")
      raise LogSchemaError(table, log_file.path, problem, column.name)
    found = schema.field(indices[0]).type
    if not _same_type(column.type, found):
      raise LogSchemaError(table, log_file.path,
                           f"expected type {column.type}, found {found}",
                           column.name)


def _same_type(expected: pa.DataType, found: pa.DataType) -> bool:
  """Type equality that ignores the name of a list's element field."""
  if pa.types.is_list(expected) and pa.types.is_list(found):
    return _same_type(expected.value_type, found.value_type)
  return expected == found


def columns_to_read(table: str, schema: pa.Schema) -> List[str]:
  return [c.name for c in contract.TABLES[table].columns
          if c.name in schema.names]


def checked_table_files(logs: LogFiles) -> Dict[str, List[LogFile]]:
  """Every table's Parquet files, after checking all their schemas.

  Raises:
    LogSchemaError: at the first missing table, unreadable file, missing
      required column or column of the wrong type.
  """
  files = {table: logs.table_files(table) for table in contract.TABLES}
  for table, table_files in files.items():
    for log_file in table_files:
      check_schema(table, log_file, logs.schema(log_file))
  return files
