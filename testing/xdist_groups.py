"""How `make test` spreads the suite over its processes (pytest-xdist, `--dist loadgroup`).

Every test that needs the session's shared pipeline run (the `pushed`
fixture) goes in one group, so one worker builds that run once; the long
tests are started first, so no worker is left with a long one at the end.
`tests/conftest.py` calls `group_and_order` on the collected items.
"""

from typing import List

import pytest

SHARED_FIXTURE = "pushed"
GROUP = "pushed"


def weight(item: pytest.Item) -> int:
  """0: the shared run's group, 1: a whole pipeline, 2: slow, 3: the rest."""
  if SHARED_FIXTURE in item.fixturenames:
    return 0
  if item.get_closest_marker("e2e"):
    return 1
  return 2 if item.get_closest_marker("slow") else 3


def group_and_order(items: List[pytest.Item]) -> None:
  """Marks the shared run's tests as one xdist group; sorts by `weight`."""
  for item in items:
    if SHARED_FIXTURE in item.fixturenames:
      item.add_marker(pytest.mark.xdist_group(GROUP))
  items.sort(key=weight)  # Stable: each file keeps its order.
