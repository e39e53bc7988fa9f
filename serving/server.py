"""The local TF-Serving-compatible gRPC server: start, serve concurrently, stop gracefully.

Production runs tensorflow_model_server (see serving/k8s/); this server
answers the same PredictionService and ModelService calls on the same
layout, for local use and tests (DESIGN section 7).
"""

import concurrent.futures
import logging
import signal
import threading
from typing import Optional, Sequence

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving import client
from serving import config as config_lib
from serving import manager as manager_lib
from serving import service

_LOG = logging.getLogger(__name__)
# Without SO_REUSEPORT a second server on a port in use fails to bind,
# instead of silently sharing the port's connections with the first.
SERVER_OPTIONS = client.GRPC_OPTIONS + (("grpc.so_reuseport", 0),)


class BindError(RuntimeError):
  """The server cannot listen on its address (e.g. the port is in use)."""


class ModelServer:
  """Serves the models of `configs` on `host:port` (port 0: any free port)."""

  def __init__(self, configs: Sequence[config_lib.ModelConfig],
               port: int = 8500, host: str = "0.0.0.0",
               max_workers: int = 16, poll_seconds: float = 1.0,
               max_candidates: Optional[int] = None):
    self._address = f"{host}:{port}"
    self._host = host
    self.manager = manager_lib.Manager(configs, poll_seconds)
    self._server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="grpc"),
        options=SERVER_OPTIONS)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        service.PredictionService(self.manager, max_candidates),
        self._server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        service.ModelService(self.manager), self._server)
    self.port: Optional[int] = None

  def start(self) -> int:
    """Loads the models on disk, then listens; returns the bound port.

    Raises:
      config_lib.ConfigError: a model's base path is not a directory.
      BindError: the address cannot be bound, e.g. the port is in use.
    """
    self.manager.start()
    try:
      self.port = self._server.add_insecure_port(self._address)
    except RuntimeError as e:  # gRPC's error for a failed bind.
      self.manager.stop()
      raise BindError(f"cannot listen on {self._address}: the port is in "
                      "use by another process (or the address is not one "
                      "of this machine)") from e
    self._server.start()
    _LOG.info("serving on %s:%d", self._host, self.port)
    return self.port

  def stop(self, grace_seconds: float = 10.0) -> None:
    """Stops accepting calls, lets those in flight finish (up to the grace), stops polling."""
    self._server.stop(grace_seconds).wait()
    self.manager.stop()
    _LOG.info("stopped")


def serve_until_signalled(server: ModelServer,
                          grace_seconds: float = 10.0) -> None:
  """Runs a started server until SIGTERM or SIGINT, then stops it gracefully.

  Must be called from the main thread (Python installs signal handlers
  there only).
  """
  stop = threading.Event()

  def on_signal(number, _):
    _LOG.info("received %s: shutting down", signal.Signals(number).name)
    stop.set()

  previous = {s: signal.signal(s, on_signal)
              for s in (signal.SIGTERM, signal.SIGINT)}
  try:
    while not stop.wait(0.5):  # Woken up regularly so signals are handled.
      pass
  finally:
    for number, handler in previous.items():
      signal.signal(number, handler)
  server.stop(grace_seconds)
