"""Fixtures shared across test folders: one small world pushed through the whole pipeline."""

import pytest

from testing import serving as serving_testing
from testing import xdist_groups


@pytest.hookimpl(tryfirst=True)  # Before pytest-xdist reads the groups.
def pytest_collection_modifyitems(items):
  xdist_groups.group_and_order(items)


@pytest.fixture(scope="session")
def pushed(tmp_path_factory) -> serving_testing.PushedModel:
  """1,500 generated requests through every component, 60 training steps.

  Blessed with a threshold of 0, so always pushed; shared by the model and
  serving tests (building it takes a minute or two). `make test` runs every
  test using it in one worker (testing/xdist_groups.py).
  """
  return serving_testing.pushed_model(str(tmp_path_factory.mktemp("pushed")))
