"""Output directories: checked writable before a command does any work, creating nothing; replaced whole, never mixed."""

import contextlib
import errno
import os
import shutil
import tempfile
from typing import Iterator


class OutputDirError(OSError):
  """An output directory that cannot be created or written to."""


class OutputNotEmptyError(FileExistsError):
  """An output directory holds earlier outputs and replacing was not asked."""


@contextlib.contextmanager
def fresh(path: str, overwrite: bool, flag: str = "--out") -> Iterator[str]:
  """A fresh folder to write `path`'s outputs into, which replaces `path`
  whole when the block ends without an error.

  Outputs of two runs never mix: a reader that globs shards would read both.
  An empty or missing `path` is written in place; a non-empty one is refused
  unless `overwrite`, and then written beside it and swapped in at the end,
  so a failed run leaves the earlier outputs as they were. Filesystem URIs
  (gs://...) are written in place.

  Raises:
    OutputNotEmptyError: `path` holds entries and `overwrite` is False.
    OutputDirError: see check_writable.
  """
  check_writable(path)
  if "://" in path or not (os.path.isdir(path) and os.listdir(path)):
    yield path
    return
  if not overwrite:
    raise OutputNotEmptyError(
        f"{flag} {path} already holds outputs ("
        + ", ".join(sorted(os.listdir(path))[:8]) + "); pass --overwrite "
        "to replace them, or choose an empty folder")
  parent = os.path.dirname(os.path.abspath(path))
  staging = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", dir=parent)
  try:
    yield staging
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  old = staging + ".old"
  os.rename(path, old)
  os.rename(staging, path)
  shutil.rmtree(old, ignore_errors=True)


def check_writable(path: str) -> None:
  """Checks that `path` can be created (if absent) and written to.

  The nearest folder of `path` that exists (itself, or the ancestor where it
  would be created) gets a probe file, removed at once; nothing else is
  created. Filesystem URIs (gs://...) are left to the writers.

  Raises:
    OutputDirError: the folder cannot be created (e.g. a file is in the way)
      or written to (e.g. read-only).
  """
  if "://" in path:
    return
  existing = os.path.abspath(path)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  try:
    if not os.path.isdir(existing):
      raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR),
                               existing)
    with tempfile.TemporaryFile(dir=existing):
      pass
  except OSError as e:
    raise OutputDirError(
        f"cannot write to the output directory {os.path.abspath(path)}: "
        f"{e.strerror or e}") from e
