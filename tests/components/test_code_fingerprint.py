"""The code fingerprint: which sources it reads, and that it changes exactly when they do."""

import os
import sys
import textwrap

import pytest

from components import code_fingerprint


@pytest.fixture
def tree(tmp_path, monkeypatch):
  """A source tree `pkg` on sys.path; returns a writer of its files."""
  monkeypatch.syspath_prepend(str(tmp_path))

  def write(path: str, text: str) -> None:
    full = tmp_path / path
    full.parent.mkdir(parents=True, exist_ok=True)
    full.write_text(textwrap.dedent(text))
    for name in list(sys.modules):
      if name == "pkg" or name.startswith("pkg."):
        del sys.modules[name]

  write("pkg/__init__.py", "")
  write("pkg/sub/__init__.py", "")
  write("pkg/model.py", """\
      import json
      from pkg import helpers
      from pkg.sub import deep as d
      from . import relative


      def run_fn(args):
        return helpers.value() + d.VALUE + relative.VALUE
      """)
  write("pkg/helpers.py", "def value():\n  return 1\n")
  write("pkg/sub/deep.py", "from pkg.sub import deeper\nVALUE = 2\n")
  write("pkg/sub/deeper.py", "VALUE = 3\n")
  write("pkg/relative.py", "VALUE = 4\n")
  write("pkg/unused.py", "VALUE = 5\n")
  return write


def test_reads_the_module_and_what_it_imports_transitively(tree):
  files = code_fingerprint.source_files("pkg.model.run_fn")
  assert sorted(files) == ["pkg", "pkg.helpers", "pkg.model",
                           "pkg.relative", "pkg.sub", "pkg.sub.deep",
                           "pkg.sub.deeper"]
  assert files["pkg.sub.deeper"].endswith(
      os.path.join("pkg", "sub", "deeper.py"))
  # A module path works as well as a path to a name in it.
  assert code_fingerprint.source_files("pkg.model") == files


@pytest.mark.parametrize("changed", ["pkg/model.py", "pkg/sub/deeper.py",
                                     "pkg/relative.py", "pkg/__init__.py"])
def test_changes_when_any_source_it_reads_changes(tree, changed):
  before = code_fingerprint.fingerprint("pkg.model.run_fn")
  assert code_fingerprint.fingerprint("pkg.model.run_fn") == before
  tree(changed, "VALUE = 6\n")
  assert code_fingerprint.fingerprint("pkg.model.run_fn") != before


def test_does_not_change_with_a_module_it_does_not_import(tree):
  before = code_fingerprint.fingerprint("pkg.model.run_fn")
  tree("pkg/unused.py", "VALUE = 7\n")
  assert code_fingerprint.fingerprint("pkg.model.run_fn") == before


def test_a_path_to_no_module_is_refused(tree):
  with pytest.raises(ValueError, match="names no Python source module"):
    code_fingerprint.fingerprint("pkg.missing.run_fn")


def test_the_project_s_entry_points_read_only_the_project(tmp_path):
  files = code_fingerprint.source_files("models.trainer.run_fn")
  assert "models.model" in files and "models.serving" in files
  assert all(name.split(".")[0] == "models" for name in files)
  transform = code_fingerprint.source_files(
      "models.preprocessing.preprocessing_fn")
  assert "models.preprocessing" in transform
  assert "models.trainer" not in transform
