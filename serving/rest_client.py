"""Client of the coarse ranker over TF Serving's REST API: rank candidates.

Sends the columnar format ({"inputs": ...}) to
`/v1/models/<name>[/versions/<v>]:predict` over one keep-alive HTTP
connection, so it talks to the local server (`coarse-rank serve
--rest_api_port`) and to tensorflow_model_server's REST port alike.
"""

import http.client
import json
import socket
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from models import serving as model_serving
from serving import client as client_lib
from serving import constants
from serving import rest_json


class RestError(Exception):
  """The server refused the call: its HTTP status and message."""

  def __init__(self, status: int, message: str):
    super().__init__(f"HTTP {status}: {message}")
    self.status = status
    self.message = message


class _Connection(http.client.HTTPConnection):
  """An HTTP connection that sends without waiting for ACKs (TCP_NODELAY).

  http.client writes a request's headers and body separately: with Nagle's
  algorithm the body would wait for the server's delayed ACK (40 ms).
  """

  def connect(self):
    super().connect()
    self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class RestRankingClient:
  """Calls one model of a server's REST API at `target` ("host:port").

  Args:
    target: "host:port" of the REST API.
    model_name: the model to call.
    timeout: seconds per call.
    version: call this version (default: the server's newest).

  A Ranking's model_version is the X-Model-Version header of the local
  server; 0 from a server that does not send it (tensorflow_model_server).
  """

  def __init__(self, target: str,
               model_name: str = constants.DEFAULT_MODEL_NAME, *,
               timeout: float = 10.0, version: Optional[int] = None):
    host, port = target.rsplit(":", 1)
    self._connection = _Connection(host, int(port), timeout=timeout)
    self._path = f"/v1/models/{model_name}" + (
        f"/versions/{version}" if version is not None else "") + ":predict"

  def close(self) -> None:
    self._connection.close()

  def __enter__(self) -> "RestRankingClient":
    return self

  def __exit__(self, *_) -> None:
    self.close()

  def predict(self, inputs: Mapping[str, np.ndarray]
              ) -> Tuple[Dict[str, np.ndarray], int]:
    """Calls serving_default on arrays; its outputs and the answering version.

    Args:
      inputs: the signature's inputs (`client.rank_inputs`), `[batch, ...]`.

    Returns:
      The outputs (`scores` `[batch, candidates]` and `top_k_scores`
      `[batch, k]` float32, `top_k_indices` `[batch, k]` int32) and the
      version from the X-Model-Version header (0 if absent).

    Raises:
      RestError: the server answered an error status.
    """
    body = json.dumps({rest_json.INPUTS: {
        name: rest_json.to_json(value) for name, value in inputs.items()}})
    self._connection.request("POST", self._path, body=body.encode("utf-8"),
                             headers={"Content-Type": "application/json"})
    response = self._connection.getresponse()
    answer = json.loads(response.read())
    if response.status != 200:
      raise RestError(response.status, answer.get("error", ""))
    outputs = {name: np.array(value, dtype=(
        np.int32 if name == model_serving.TOP_K_INDICES else np.float32))
               for name, value in answer["outputs"].items()}
    return outputs, int(response.getheader(constants.VERSION_HEADER, "0"))

  def rank_batch(self, requests: Sequence[client_lib.RankRequest]
                 ) -> List[client_lib.Ranking]:
    """Scores the candidates of several requests in one call.

    Raises:
      RestError: the server answered an error status.
    """
    outputs, version = self.predict(client_lib.rank_inputs(requests))
    return [client_lib.ranking(outputs, i, r.candidate_item_ids, version)
            for i, r in enumerate(requests)]

  def rank(self, request: client_lib.RankRequest) -> client_lib.Ranking:
    """Scores the candidates of one request."""
    return self.rank_batch([request])[0]
