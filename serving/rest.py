"""TF Serving's REST API on the local server: predict, model status and metadata over HTTP/JSON.

    POST /v1/models/<name>[/versions/<v>|/labels/<label>]:predict
    GET  /v1/models/<name>[/versions/<v>|/labels/<label>]
    GET  /v1/models/<name>[/versions/<v>|/labels/<label>]/metadata

Predict takes TF Serving's row ({"instances": [...]}) or columnar
({"inputs": {...}}) body and answers {"predictions": ...} or
{"outputs": ...}, with the version that answered in the
`X-Model-Version` header (TF Serving's body does not say it). Calls go
through the same services as gRPC (the same checks, batching and
versions); an error is answered as TF Serving does: {"error": message}
with the HTTP status of its gRPC code.
"""

import http
import http.server
import logging
import re
import threading
import time
import urllib.parse
from typing import Any, Dict, Optional, Tuple

from google.protobuf import json_format
import grpc
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.apis import predict_pb2

from serving import constants
from serving import errors
from serving import rest_json
from serving import service
from serving import tensors

_LOG = logging.getLogger(__name__)
_PATH = re.compile(
    r"/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<method>:[A-Za-z]+|/metadata)?")
_PREDICT = ":predict"
_METADATA = "/metadata"
_NOT_SERVED = (":classify", ":regress")
_Status = http.HTTPStatus
# The HTTP status of each gRPC code, as TF Serving maps them.
HTTP_STATUS = {
    grpc.StatusCode.OK: _Status.OK,
    grpc.StatusCode.CANCELLED: 499,  # Client closed request.
    grpc.StatusCode.UNKNOWN: _Status.INTERNAL_SERVER_ERROR,
    grpc.StatusCode.INVALID_ARGUMENT: _Status.BAD_REQUEST,
    grpc.StatusCode.DEADLINE_EXCEEDED: _Status.GATEWAY_TIMEOUT,
    grpc.StatusCode.NOT_FOUND: _Status.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS: _Status.CONFLICT,
    grpc.StatusCode.PERMISSION_DENIED: _Status.FORBIDDEN,
    grpc.StatusCode.RESOURCE_EXHAUSTED: _Status.TOO_MANY_REQUESTS,
    grpc.StatusCode.FAILED_PRECONDITION: _Status.BAD_REQUEST,
    grpc.StatusCode.ABORTED: _Status.CONFLICT,
    grpc.StatusCode.OUT_OF_RANGE: _Status.BAD_REQUEST,
    grpc.StatusCode.UNIMPLEMENTED: _Status.NOT_IMPLEMENTED,
    grpc.StatusCode.INTERNAL: _Status.INTERNAL_SERVER_ERROR,
    grpc.StatusCode.UNAVAILABLE: _Status.SERVICE_UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS: _Status.INTERNAL_SERVER_ERROR,
    grpc.StatusCode.UNAUTHENTICATED: _Status.UNAUTHORIZED,
}


class HttpError(Exception):
  """A request the API has no endpoint for: its HTTP status and message."""

  def __init__(self, status: int, message: str, allow: str = ""):
    super().__init__(message)
    self.status = status
    self.message = message
    self.allow = allow


def _model_spec(match: re.Match) -> model_pb2.ModelSpec:
  spec = model_pb2.ModelSpec(name=match["name"])
  if match["version"] is not None:
    if not match["version"].isdigit():
      raise errors.invalid_argument(
          f"the version in the path must be a number, got "
          f"{match['version']!r}")
    spec.version.value = int(match["version"])
  elif match["label"] is not None:
    spec.version_label = match["label"]
  return spec


def _message_json(message) -> Any:
  return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                   including_default_value_fields=True)


class Api:
  """The REST endpoints on the gRPC services (no HTTP here: testable)."""

  def __init__(self, predictions: service.PredictionService,
               models: service.ModelService):
    self._predictions = predictions
    self._models = models

  def route(self, method: str, path: str, body: bytes
            ) -> Tuple[Any, Dict[str, str]]:
    """The JSON answer of a request and its extra headers.

    Raises:
      HttpError: no endpoint for the path (404) or the method (405).
      errors.ServingError, tf.errors.OpError: the call failed.
    """
    match = _PATH.fullmatch(urllib.parse.urlsplit(path).path)
    endpoint = match and (match["method"] or "")
    if endpoint is None or (endpoint.startswith(":") and endpoint not in (
        _PREDICT, *_NOT_SERVED)):
      raise HttpError(
          _Status.NOT_FOUND,
          f"no endpoint {method} {path}: the API serves POST "
          "/v1/models/<name>[/versions/<v>|/labels/<l>]:predict and GET "
          "/v1/models/<name>[/versions/<v>|/labels/<l>][/metadata]")
    allowed = "POST" if endpoint.startswith(":") else "GET"
    if method != allowed:
      raise HttpError(_Status.METHOD_NOT_ALLOWED,
                      f"{path} takes {allowed}, not {method}", allow=allowed)
    spec = _model_spec(match)
    if endpoint in _NOT_SERVED:
      raise errors.unimplemented(f"{endpoint[1:]} is not served: use "
                                 f"{_PREDICT}")
    if endpoint == _PREDICT:
      answer, version = self.predict(spec, body)
      return answer, {constants.VERSION_HEADER: str(version)}
    if endpoint == _METADATA:
      return self.metadata(spec), {}
    return _message_json(self._models.status(
        get_model_status_pb2.GetModelStatusRequest(model_spec=spec))), {}

  def predict(self, spec: model_pb2.ModelSpec, body: bytes
              ) -> Tuple[Any, int]:
    """The answer to a predict body, and the version that answered."""
    signature_name, form, value = rest_json.parse_body(body)
    servable = self._predictions.servable(spec)
    specs = servable.signature(signature_name).inputs
    arrays = (rest_json.instances_to_arrays(value, specs)
              if form == rest_json.INSTANCES
              else rest_json.inputs_to_arrays(value, specs))
    request = predict_pb2.PredictRequest()
    request.model_spec.CopyFrom(spec)
    request.model_spec.signature_name = signature_name
    for name, array in arrays.items():
      request.inputs[name].CopyFrom(tensors.to_proto(array))
    outputs = self._predictions.outputs(servable, request)
    if form == rest_json.INSTANCES:
      return {"predictions": rest_json.predictions(outputs)}, servable.version
    return {"outputs": rest_json.columns(outputs)}, servable.version

  def metadata(self, spec: model_pb2.ModelSpec) -> Any:
    """The model spec and signature definitions, as TF Serving writes them."""
    response = self._predictions.metadata(
        get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=spec, metadata_field=[service.SIGNATURE_DEF_FIELD]))
    defs = get_model_metadata_pb2.SignatureDefMap()
    response.metadata[service.SIGNATURE_DEF_FIELD].Unpack(defs)
    return {"model_spec": _message_json(response.model_spec),
            "metadata": {service.SIGNATURE_DEF_FIELD: _message_json(defs)}}


class _Handler(http.server.BaseHTTPRequestHandler):
  """One HTTP connection; requests answered by the server's Api."""

  server: "_HttpServer"
  protocol_version = "HTTP/1.1"  # Keep-alive: clients reuse connections.
  timeout = 60  # Seconds an idle connection stays open.
  # Headers and body go out in separate writes: without TCP_NODELAY the
  # body waits for the client's delayed ACK (40 ms).
  disable_nagle_algorithm = True

  def _answer(self, method: str) -> None:
    with self.server.in_flight:
      self.server.active += 1
    try:
      self._respond(method)
    finally:
      with self.server.in_flight:
        self.server.active -= 1
        self.server.in_flight.notify_all()
      if self.server.stopping:
        self.close_connection = True

  def _respond(self, method: str) -> None:
    headers = {}
    try:
      length = int(self.headers.get("Content-Length") or 0)
      body = self.rfile.read(length) if length > 0 else b""
      answer, headers = self.server.api.route(method, self.path, body)
      status = _Status.OK
    except HttpError as e:
      status, answer = e.status, {"error": e.message}
      if e.allow:
        headers = {"Allow": e.allow}
    # Every error is answered; an unexpected one is logged with its
    # traceback by errors.status.
    except Exception as e:  # pylint: disable=broad-except
      code, message = errors.status(e, f"{method} {self.path}", _LOG)
      status, answer = HTTP_STATUS[code], {"error": message}
    data = rest_json.dumps(answer).encode("utf-8")
    self.send_response(status)
    self.send_header("Content-Type", "application/json")
    self.send_header("Content-Length", str(len(data)))
    for name, value in headers.items():
      self.send_header(name, value)
    self.end_headers()
    self.wfile.write(data)

  def do_GET(self):  # pylint: disable=invalid-name
    self._answer("GET")

  def do_POST(self):  # pylint: disable=invalid-name
    self._answer("POST")

  def do_PUT(self):  # pylint: disable=invalid-name
    self._answer("PUT")

  def do_DELETE(self):  # pylint: disable=invalid-name
    self._answer("DELETE")

  def log_message(self, format, *args):  # pylint: disable=redefined-builtin
    _LOG.debug("%s " + format, self.address_string(), *args)


class _HttpServer(http.server.ThreadingHTTPServer):
  """Counts the requests in flight, so that stop can wait for them."""

  # Connections idle in keep-alive do not hold up stop.
  block_on_close = False

  def __init__(self, address: Tuple[str, int], api: Api):
    super().__init__(address, _Handler)
    self.api = api
    self.in_flight = threading.Condition()
    self.active = 0
    self.stopping = False


class RestServer:
  """The REST API on `host:port` (port 0: any free port), on its own threads."""

  def __init__(self, api: Api, host: str, port: int):
    self._api = api
    self._address = (host, port)
    self._server: Optional[_HttpServer] = None
    self._thread: Optional[threading.Thread] = None

  def start(self) -> int:
    """Listens; returns the bound port.

    Raises:
      OSError: the address cannot be bound.
    """
    self._server = _HttpServer(self._address, self._api)
    self._thread = threading.Thread(target=self._server.serve_forever,
                                    name="rest", daemon=True)
    self._thread.start()
    return self._server.server_address[1]

  def stop(self, grace_seconds: float) -> None:
    """Stops accepting requests; those in flight may finish within the grace."""
    server = self._server
    server.stopping = True
    server.shutdown()
    deadline = time.monotonic() + grace_seconds
    with server.in_flight:
      while server.active and time.monotonic() < deadline:
        server.in_flight.wait(deadline - time.monotonic())
    server.server_close()
    self._thread.join()
