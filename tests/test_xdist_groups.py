"""`make test`'s two processes: a file, and the shared run's tests, each in one worker; long ones first."""

import os
import subprocess
import sys

import pytest

from testing import xdist_groups

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CONFTEST = '''
import pytest
from testing import xdist_groups

@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
  xdist_groups.group_and_order(items)

@pytest.fixture(scope="session")
def pushed():
  return "built once per worker"
'''

_TESTS = '''
import os

def _record(name):
  with open(os.path.join(os.environ["RECORD_DIR"], name), "w") as f:
    f.write(os.environ["PYTEST_XDIST_WORKER"])

{tests}
'''


def test_a_file_and_the_shared_runs_tests_each_run_in_one_worker(tmp_path):
  # pytest 9.2 made pytest-xdist's loadgroup spread a group silently
  # (pytest-xdist issue 1386): this fails if that comes back.
  suite, record = tmp_path / "suite", tmp_path / "record"
  suite.mkdir()
  record.mkdir()
  (suite / "conftest.py").write_text(_CONFTEST)
  for module in "abcd":
    tests = "\n".join(
        [f"def test_{module}_shared_{i}(pushed):\n  _record('shared_{module}"
         f"{i}')\n" for i in range(2)]
        + [f"def test_{module}_alone_{i}():\n  _record('{module}_alone{i}')\n"
           for i in range(3)])
    (suite / f"test_{module}.py").write_text(_TESTS.format(tests=tests))
  proc = subprocess.run(
      [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup",
       "--no-loadscope-reorder", "-p", "no:cacheprovider", "-q",
       "--rootdir", str(suite), "-c", os.devnull, str(suite)],
      cwd=suite, capture_output=True, text=True, check=False, timeout=300,
      env=dict(os.environ, RECORD_DIR=str(record),
               PYTHONPATH=os.pathsep.join(
                   [REPO, os.environ.get("PYTHONPATH", "")])))
  assert proc.returncode == 0, proc.stdout + proc.stderr
  workers = {p.name: p.read_text() for p in record.iterdir()}
  assert len(workers) == 20
  by_group = {}
  for name, worker in workers.items():
    by_group.setdefault(name.split("_")[0], set()).add(worker)
  assert sorted(by_group) == ["a", "b", "c", "d", "shared"]
  assert all(len(w) == 1 for w in by_group.values()), by_group
  assert set(workers.values()) == {"gw0", "gw1"}


class _Item:
  """What group_and_order reads and writes of a pytest item."""

  def __init__(self, nodeid, fixtures=(), marker=None):
    self.nodeid, self.fixturenames = nodeid, list(fixtures)
    self._marker, self.added = marker, []

  def get_closest_marker(self, name):
    return name if name == self._marker else None

  def add_marker(self, mark):
    self.added.append(mark)


def test_groups_are_files_and_the_shared_run_ordered_by_lightest_weight():
  items = [_Item("a.py::quick"), _Item("b.py::quick"),
           _Item("b.py::slow", marker="slow"),
           _Item("a.py::uses_the_run",
                 fixtures=["tmp_path", xdist_groups.SHARED_FIXTURE]),
           _Item("c.py::pipeline", marker="e2e"), _Item("c.py::quick"),
           _Item("d.py::quick"),
           _Item("d.py::uses_the_run", fixtures=[xdist_groups.SHARED_FIXTURE],
                 marker="slow")]
  xdist_groups.group_and_order(items)
  assert [i.nodeid for i in items] == [
      "a.py::uses_the_run", "d.py::uses_the_run",  # the shared run's group
      "c.py::pipeline", "c.py::quick",  # a file with a whole pipeline
      "b.py::quick", "b.py::slow",  # a file with a slow test
      "a.py::quick", "d.py::quick"]
  for item in items:
    (mark,) = item.added
    assert mark.name == "xdist_group"
  shared = xdist_groups.SHARED_GROUP
  assert {i.nodeid: i.added[0].args[0] for i in items} == {
      "a.py::uses_the_run": shared, "d.py::uses_the_run": shared,
      "c.py::pipeline": "c.py", "c.py::quick": "c.py", "b.py::quick": "b.py",
      "b.py::slow": "b.py", "a.py::quick": "a.py", "d.py::quick": "d.py"}


@pytest.mark.parametrize("marker, expected", [
    ("e2e", xdist_groups.PIPELINE), ("slow", xdist_groups.SLOW),
    (None, xdist_groups.REST)])
def test_weight_of_a_test_without_the_shared_run(marker, expected):
  assert xdist_groups.weight(_Item("t.py::t", marker=marker)) == expected
