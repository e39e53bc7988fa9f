"""TF Serving's model layout: numeric version folders under a model's base path.

    <base_path>/<version>/saved_model.pb
                         /variables/variables.{index,data-*}
                         /assets/...
                         /assets.extra/tf_serving_warmup_requests

A folder whose name is not a non-negative integer (e.g. a pusher's staging
folder) is not a version.
"""

import hashlib
import os
from typing import Dict, Tuple

import tensorflow as tf

SAVED_MODEL_FILE = "saved_model.pb"

# (relative path, size, mtime in ns) of every file of a version folder.
Fingerprint = Tuple[Tuple[str, int, int], ...]


def list_versions(base_path: str) -> Dict[int, str]:
  """Version number -> folder of every version under `base_path`.

  Raises:
    tf.errors.NotFoundError: `base_path` does not exist.
  """
  versions = {}
  for name in tf.io.gfile.listdir(base_path):
    name = name.rstrip("/")
    path = os.path.join(base_path, name)
    if name.isdigit() and tf.io.gfile.isdir(path):
      versions[int(name)] = path
  return versions


def fingerprint(version_path: str) -> Fingerprint:
  """What the files of a version folder are now; changes when one is written."""
  out = []
  for root, _, files in tf.io.gfile.walk(version_path):
    for name in files:
      path = os.path.join(root, name)
      stat = tf.io.gfile.stat(path)
      out.append((os.path.relpath(path, version_path), stat.length,
                  stat.mtime_nsec))
  return tuple(sorted(out))


def content_digest(folder: str, chunk_bytes: int = 1 << 22) -> str:
  """A SHA-256 of every file's relative path and bytes under `folder`.

  Equal digests mean the same files with the same content, e.g. a model and
  the version folder it was pushed to.
  """
  digest = hashlib.sha256()
  files = sorted(os.path.relpath(os.path.join(root, name), folder)
                 for root, _, names in tf.io.gfile.walk(folder)
                 for name in names)
  for relative in files:
    digest.update(f"{relative}\0".encode())
    with tf.io.gfile.GFile(os.path.join(folder, relative), "rb") as f:
      for chunk in iter(lambda: f.read(chunk_bytes), b""):
        digest.update(chunk)
    digest.update(b"\0")
  return digest.hexdigest()
