"""`make test`'s two processes: the shared run's tests share one worker, long tests start first."""

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


def test_the_shared_runs_tests_run_in_one_worker(tmp_path):
  # pytest 9.2 made pytest-xdist's loadgroup spread a group silently
  # (pytest-xdist issue 1386): this fails if that comes back.
  suite, record = tmp_path / "suite", tmp_path / "record"
  suite.mkdir()
  record.mkdir()
  (suite / "conftest.py").write_text(_CONFTEST)
  for module in ("a", "b"):
    tests = "\n".join(
        [f"def test_{module}_shared_{i}(pushed):\n  _record('shared_{module}"
         f"{i}')\n" for i in range(3)]
        + [f"def test_{module}_alone_{i}():\n  _record('alone_{module}{i}')\n"
           for i in range(4)])
    (suite / f"test_{module}.py").write_text(_TESTS.format(tests=tests))
  proc = subprocess.run(
      [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup",
       "-p", "no:cacheprovider", "-q", "--rootdir", str(suite), "-c",
       os.devnull, str(suite)],
      cwd=suite, capture_output=True, text=True, check=False, timeout=300,
      env=dict(os.environ, RECORD_DIR=str(record),
               PYTHONPATH=os.pathsep.join(
                   [REPO, os.environ.get("PYTHONPATH", "")])))
  assert proc.returncode == 0, proc.stdout + proc.stderr
  workers = {p.name: p.read_text() for p in record.iterdir()}
  assert len(workers) == 14
  shared = {w for name, w in workers.items() if name.startswith("shared_")}
  assert len(shared) == 1, workers
  assert set(workers.values()) == {"gw0", "gw1"}


class _Item:
  """What group_and_order reads and writes of a pytest item."""

  def __init__(self, name, fixtures=(), marker=None):
    self.name, self.fixturenames, self._marker = name, list(fixtures), marker
    self.added = []

  def get_closest_marker(self, name):
    return name if name == self._marker else None

  def add_marker(self, mark):
    self.added.append(mark)


def test_the_shared_run_first_then_whole_pipelines_then_slow_tests():
  items = [_Item("quick"), _Item("slow", marker="slow"),
           _Item("uses the run", fixtures=["tmp_path", "pushed"]),
           _Item("pipeline", marker="e2e"), _Item("quick 2"),
           _Item("uses the run 2", fixtures=["pushed"], marker="slow")]
  xdist_groups.group_and_order(items)
  assert [i.name for i in items] == [
      "uses the run", "uses the run 2", "pipeline", "slow", "quick",
      "quick 2"]
  grouped = {i.name: [m.args for m in i.added] for i in items}
  assert grouped == {"uses the run": [("pushed",)],
                     "uses the run 2": [("pushed",)], "pipeline": [],
                     "slow": [], "quick": [], "quick 2": []}
  assert all(m.name == "xdist_group" for i in items for m in i.added)


@pytest.mark.parametrize("marker, expected", [("e2e", 1), ("slow", 2),
                                              (None, 3)])
def test_weight_of_a_test_without_the_shared_run(marker, expected):
  assert xdist_groups.weight(_Item("t", marker=marker)) == expected
