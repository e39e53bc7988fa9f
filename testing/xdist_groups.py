"""How `make test` spreads the suite over its processes (pytest-xdist, `--dist loadgroup`).

Each test file is one group, run by one worker, so a module-scoped fixture
(a pipeline run, a Transform output) is built once. Every test that needs
the session's shared run (the `pushed` fixture) goes in one more group,
whatever its file, so one worker builds that run once. That group comes
first, then files holding a whole-pipeline test, then files with slow
tests, so no worker is left with a long test at the end (`make test` keeps this order with
`--no-loadscope-reorder`). `tests/conftest.py` calls `group_and_order` on
the collected items.
"""

from typing import Dict, List

import pytest

SHARED_FIXTURE = "pushed"
SHARED_GROUP = "pushed"

# Weights: the smaller, the earlier.
SHARED, PIPELINE, SLOW, REST = range(4)


def weight(item: pytest.Item) -> int:
  """SHARED: uses the shared run; PIPELINE: e2e; SLOW: slow; else REST."""
  if SHARED_FIXTURE in item.fixturenames:
    return SHARED
  if item.get_closest_marker("e2e"):
    return PIPELINE
  return SLOW if item.get_closest_marker("slow") else REST


def group(item: pytest.Item) -> str:
  """The shared run's group, or the test's file."""
  if SHARED_FIXTURE in item.fixturenames:
    return SHARED_GROUP
  return item.nodeid.split("::", 1)[0]


def group_and_order(items: List[pytest.Item]) -> None:
  """Marks each item's xdist group; orders the groups by their first weight.

  A group's weight is the smallest of its items' (its earliest). A group's
  items keep their order, and groups of equal weight theirs.
  """
  groups = {id(item): group(item) for item in items}
  first_weight: Dict[str, int] = {}
  for item in items:
    name = groups[id(item)]
    first_weight[name] = min(first_weight.get(name, REST), weight(item))
    item.add_marker(pytest.mark.xdist_group(name))
  first = {}
  for position, item in enumerate(items):
    first.setdefault(groups[id(item)], position)
  items.sort(key=lambda item: (first_weight[groups[id(item)]],
                               first[groups[id(item)]]))
