"""How `make test` spreads the suite over its processes (pytest-xdist, `--dist loadgroup`).

Each test file is one group, run by one worker, so a module-scoped fixture
(a pipeline run, a Transform output) is built once. Every test that needs
the session's shared run (the `pushed` fixture) goes in one more group,
whatever its file, so one worker builds that run once. Files holding a
whole-pipeline test come first, then files with slow tests, so no worker is
left with a long test at the end (`make test` keeps this order with
`--no-loadscope-reorder`). `tests/conftest.py` calls `group_and_order` on
the collected items.
"""

from typing import Dict, List

import pytest

SHARED_FIXTURE = "pushed"
SHARED_GROUP = "pushed"


def weight(item: pytest.Item) -> int:
  """0: uses the shared run, 1: a whole pipeline, 2: slow, 3: the rest."""
  if SHARED_FIXTURE in item.fixturenames:
    return 0
  if item.get_closest_marker("e2e"):
    return 1
  return 2 if item.get_closest_marker("slow") else 3


def group(item: pytest.Item) -> str:
  """The shared run's group, or the test's file."""
  if SHARED_FIXTURE in item.fixturenames:
    return SHARED_GROUP
  return item.nodeid.split("::", 1)[0]


def group_and_order(items: List[pytest.Item]) -> None:
  """Marks each item's xdist group; orders the groups by their lightest weight.

  A group's items keep their order, and the groups with equal weights theirs.
  """
  groups = {id(item): group(item) for item in items}
  lightest: Dict[str, int] = {}
  for item in items:
    name = groups[id(item)]
    lightest[name] = min(lightest.get(name, 3), weight(item))
    item.add_marker(pytest.mark.xdist_group(name))
  first = {}
  for position, item in enumerate(items):
    first.setdefault(groups[id(item)], position)
  items.sort(key=lambda item: (lightest[groups[id(item)]],
                               first[groups[id(item)]]))
