"""A fingerprint of the code a component runs, so TFX's cache reruns it when that code changes.

TFX's cache keys an execution by its inputs and exec properties. Code reached
through a dotted path (`run_fn`, `preprocessing_fn`) or living in a custom
component's executor is neither, so a changed model would be reused from the
cache. `fingerprint` hashes the source of a module and of every module of the
same source tree it imports, transitively (read with `ast`, not imported), and
the pipeline puts it among the component's exec properties.

    fingerprint("models.trainer.run_fn")  # the module models/trainer.py
"""

import ast
import hashlib
import importlib.util
import os
from typing import Dict, Iterator, Optional

# The exec property (and `custom_config` key of TFX's Trainer, Tuner and
# Transform) that holds a component's code fingerprint.
KEY = "code_fingerprint"
# Length of the hex digest kept: 64 bits tell versions apart.
_DIGEST_CHARS = 16


def _top_root(top: str) -> str:
  """The folder holding top-level module or package `top` (finding it
  imports nothing)."""
  spec = importlib.util.find_spec(top)
  if spec is None or not spec.origin or not spec.origin.endswith(".py"):
    raise ValueError(f"{top!r} is not a Python source module or package")
  folder = os.path.dirname(os.path.abspath(spec.origin))
  return os.path.dirname(folder) if spec.submodule_search_locations else folder


def _module_file(name: str, root: str) -> Optional[str]:
  """The source file of module `name` under `root`, None if there is none."""
  base = os.path.join(root, *name.split("."))
  for path in (base + ".py", os.path.join(base, "__init__.py")):
    if os.path.isfile(path):
      return path
  return None


def _module_of(dotted: str, root: str) -> str:
  """The module of a dotted path to a module or to a name in one."""
  if _module_file(dotted, root):
    return dotted
  module = dotted.rpartition(".")[0]
  if not module or not _module_file(module, root):
    raise ValueError(f"{dotted!r} names no Python source module")
  return module


def _imports(source: str, module: str, is_package: bool) -> Iterator[str]:
  """Absolute names of the modules a source imports, and of the names it
  imports from them (each may be a submodule)."""
  package = module if is_package else module.rpartition(".")[0]
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      for alias in node.names:
        yield alias.name
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        parts = package.split(".")
        parent = ".".join(parts[:len(parts) - node.level + 1])
        base = f"{parent}.{base}" if base else parent
      yield base
      for alias in node.names:
        yield f"{base}.{alias.name}"


def _parents(name: str) -> Iterator[str]:
  parts = name.split(".")
  for end in range(1, len(parts)):
    yield ".".join(parts[:end])


def source_files(dotted: str) -> Dict[str, str]:
  """Module name -> source file of `dotted`'s module and the modules of its
  source tree (the folder holding its top-level package) it imports,
  transitively, with their packages' `__init__.py`."""
  root = _top_root(dotted.split(".")[0])
  start = _module_of(dotted, root)
  found: Dict[str, str] = {}
  pending = [start, *_parents(start)]
  while pending:
    name = pending.pop()
    if name in found:
      continue
    path = _module_file(name, root)
    if path is None:
      continue
    found[name] = path
    with open(path, encoding="utf-8") as source:
      text = source.read()
    for imported in _imports(text, name, path.endswith("__init__.py")):
      pending.append(imported)
      pending.extend(_parents(imported))
  return found


def fingerprint(*dotted: str) -> str:
  """A short hex digest of the sources `source_files` finds for each path.

  Raises:
    ValueError: a path that names no Python source module.
  """
  digest = hashlib.sha256()
  files: Dict[str, str] = {}
  for path in dotted:
    files.update(source_files(path))
  for name in sorted(files):
    with open(files[name], "rb") as source:
      digest.update(name.encode() + b"\0" + source.read() + b"\0")
  return digest.hexdigest()[:_DIGEST_CHARS]
