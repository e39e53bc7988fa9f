"""One trained and exported coarse ranker shared by every serving test (building it takes a minute or two)."""

import dataclasses
import os
from typing import Optional

import pytest

from serving import batching
from serving import config as config_lib
from serving import constants
from serving import server as server_lib
from testing import serving as serving_testing

MODEL_NAME = constants.DEFAULT_MODEL_NAME
# The server's candidate limit in the tests, below the model's own (10,000).
MAX_CANDIDATES = 2_000
# Batches of up to 8 requests that wait up to 20 ms for each other: long
# enough for concurrent test clients to meet in one batch.
BATCHING = batching.Parameters(max_batch_size=8, batch_timeout_micros=20_000,
                               num_batch_threads=2, max_enqueued_batches=16)


@pytest.fixture(scope="session")
def exported(pushed) -> serving_testing.PushedModel:
  return pushed


@dataclasses.dataclass
class Running:
  """A started local server: gRPC and REST addresses, base path, limit."""

  server: server_lib.ModelServer
  target: str
  rest_target: str
  base_path: str
  max_candidates: int


def _start_server(exported: serving_testing.PushedModel, root: str,
                  batching_parameters: Optional[batching.Parameters] = None
                  ) -> Running:
  """Pushes the export as version 1 under `root`; serves it on loopback.

  Over gRPC and REST, batching with `batching_parameters` if given.
  """
  base_path = os.path.join(root, MODEL_NAME)
  os.makedirs(base_path)
  serving_testing.push_version(exported.export_dir, base_path, 1)
  server = server_lib.ModelServer(
      [config_lib.ModelConfig(MODEL_NAME, base_path)], port=0,
      host="127.0.0.1", poll_seconds=0.2, max_candidates=MAX_CANDIDATES,
      rest_api_port=0, batching_parameters=batching_parameters)
  port = server.start()
  return Running(server, f"127.0.0.1:{port}",
                 f"127.0.0.1:{server.rest_port}", base_path, MAX_CANDIDATES)


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


@pytest.fixture(scope="module")
def batched_server(exported, tmp_path_factory):
  """A server that batches concurrent calls (BATCHING), versions unchanged."""
  running = _start_server(exported, str(tmp_path_factory.mktemp("batched")),
                          BATCHING)
  yield running
  running.server.stop(0)


@pytest.fixture
def fresh_batched_server(exported, tmp_path):
  """A batching server of its own, for tests that push versions."""
  running = _start_server(exported, str(tmp_path), BATCHING)
  yield running
  running.server.stop(0)
