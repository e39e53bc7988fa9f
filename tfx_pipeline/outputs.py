"""Output directories: checked writable before a command does any work, creating nothing."""

import errno
import os
import tempfile


class OutputDirError(OSError):
  """An output directory that cannot be created or written to."""


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
