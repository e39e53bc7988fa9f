"""One trained and exported coarse ranker shared by every serving test (building it takes a minute or two)."""

import dataclasses
import os

import pytest

from serving import config as config_lib
from serving import server as server_lib
from testing import serving as serving_testing

MODEL_NAME = config_lib.DEFAULT_MODEL_NAME
# The server's candidate limit in the tests, below the model's own (10,000).
MAX_CANDIDATES = 2_000


@pytest.fixture(scope="session")
def exported(pushed) -> serving_testing.PushedModel:
  return pushed


@dataclasses.dataclass
class Running:
  """A started local server, its address, its model's base path and limit."""

  server: server_lib.ModelServer
  target: str
  base_path: str
  max_candidates: int


def _start_server(exported: serving_testing.PushedModel, root: str) -> Running:
  """Pushes the export as version 1 under `root` and serves it on loopback."""
  base_path = os.path.join(root, MODEL_NAME)
  os.makedirs(base_path)
  serving_testing.push_version(exported.export_dir, base_path, 1)
  server = server_lib.ModelServer(
      [config_lib.ModelConfig(MODEL_NAME, base_path)], port=0,
      host="127.0.0.1", poll_seconds=0.2, max_candidates=MAX_CANDIDATES)
  port = server.start()
  return Running(server, f"127.0.0.1:{port}", base_path, MAX_CANDIDATES)


@pytest.fixture(scope="module")
def shared_server(exported, tmp_path_factory):
  """A server whose versions the tests do not change."""
  running = _start_server(exported, str(tmp_path_factory.mktemp("shared")))
  yield running
  running.server.stop(0)


@pytest.fixture
def fresh_server(exported, tmp_path):
  """A server of its own, for tests that push versions."""
  running = _start_server(exported, str(tmp_path))
  yield running
  running.server.stop(0)
