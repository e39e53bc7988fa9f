"""The local TF-Serving-compatible server: gRPC, optionally REST and batching; start, serve concurrently, stop gracefully.

Production runs tensorflow_model_server (see serving/k8s/); this server
answers the same PredictionService and ModelService calls on the same
layout, and TF Serving's REST API on a second port, for local use and tests
(DESIGN section 7).
"""

import concurrent.futures
import logging
import signal
import threading
from typing import Optional, Sequence

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving import batched
from serving import batching
from serving import config as config_lib
from serving import constants
from serving import manager as manager_lib
from serving import rest
from serving import service

_LOG = logging.getLogger(__name__)
# Without SO_REUSEPORT a second server on a port in use fails to bind,
# instead of silently sharing the port's connections with the first.
SERVER_OPTIONS = constants.GRPC_OPTIONS + (("grpc.so_reuseport", 0),)


class BindError(RuntimeError):
  """The server cannot listen on its address (e.g. the port is in use)."""


class ModelServer:
  """Serves the models of `configs` on `host:port` (port 0: any free port).

  Args:
    configs: the models.
    port: the gRPC port, 0 for any free one.
    host: the address to listen on.
    max_workers: gRPC calls served at once.
    poll_seconds: seconds between polls for new versions (0: once).
    max_candidates: refuse requests with more candidates (INVALID_ARGUMENT).
    rest_api_port: serve the REST API on this port too (0: any free one);
      None: no REST API.
    batching_parameters: batch concurrent Predict calls with these
      parameters; None: no batching.
  """

  def __init__(self, configs: Sequence[config_lib.ModelConfig],
               port: int = 8500, host: str = "0.0.0.0",
               max_workers: int = 16, poll_seconds: float = 1.0,
               max_candidates: Optional[int] = None,
               rest_api_port: Optional[int] = None,
               batching_parameters: Optional[batching.Parameters] = None):
    self._address = f"{host}:{port}"
    self._host = host
    self.manager = manager_lib.Manager(
        configs, poll_seconds, batching=batching_parameters is not None)
    self._batcher = (batched.SignatureBatcher(batching_parameters)
                     if batching_parameters else None)
    self._server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="grpc"),
        options=SERVER_OPTIONS)
    predictions = service.PredictionService(self.manager, max_candidates,
                                            self._batcher)
    models = service.ModelService(self.manager)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        predictions, self._server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        models, self._server)
    self._rest_address = f"{host}:{rest_api_port}"
    self._rest = (None if rest_api_port is None else rest.RestServer(
        rest.Api(predictions, models), host, rest_api_port))
    self.port: Optional[int] = None
    self.rest_port: Optional[int] = None

  def start(self) -> int:
    """Loads the models on disk, then listens; returns the bound gRPC port.

    The REST port, if any, is then `rest_port`.

    Raises:
      config_lib.ConfigError: a model's base path is not a directory.
      BindError: an address cannot be bound, e.g. the port is in use.
    """
    self.manager.start()
    try:
      self.port = self._server.add_insecure_port(self._address)
    except RuntimeError as e:  # gRPC's error for a failed bind.
      self._stop_models()
      raise BindError(_in_use(self._address)) from e
    if self._rest is not None:
      try:
        self.rest_port = self._rest.start()
      except OSError as e:
        self._server.stop(0)
        self._stop_models()
        raise BindError(_in_use(self._rest_address)) from e
    self._server.start()
    _LOG.info("serving on %s:%d", self._host, self.port)
    if self.rest_port is not None:
      _LOG.info("serving the REST API on %s:%d", self._host, self.rest_port)
    return self.port

  def _stop_models(self) -> None:
    if self._batcher is not None:
      self._batcher.stop()
    self.manager.stop()

  def stop(self, grace_seconds: float = 10.0) -> None:
    """Stops accepting calls, lets those in flight finish (up to the grace), stops polling."""
    stopped = self._server.stop(grace_seconds)
    if self._rest is not None and self.rest_port is not None:
      self._rest.stop(grace_seconds)
    stopped.wait()
    self._stop_models()
    _LOG.info("stopped")


def _in_use(address: str) -> str:
  return (f"cannot listen on {address}: the port is in use by another "
          "process (or the address is not one of this machine)")


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
