"""Client of the coarse ranker over TF Serving's gRPC API: rank candidates, read metadata and status.

Only standard TF Serving requests are sent (ModelSpec name, signature and
version; inputs as TensorProtos), so the same client talks to the local
server (`coarse-rank serve`) and to tensorflow_model_server.

>>> with RankingClient("localhost:8500") as client:  # doctest: +SKIP
...   ranking = client.rank(RankRequest(
...       user_id="u1", query="red running shoes",
...       candidate_item_ids=["i1", "i2", "i3"]))
...   ranking.top_k[0]
('i2', 7.31)
"""

import dataclasses
import math
import time
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import grpc
import numpy as np
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from models import features as f
from models import requests as requests_lib
from models import serving as model_serving
from serving import constants
from serving import tensors

DEFAULT_TARGET = "localhost:8500"
UNKNOWN_INT = f.UNKNOWN_INT
# The request type and its padding live with the signature, in models/.
RankRequest = requests_lib.RankRequest
rank_inputs = requests_lib.rank_inputs
_State = get_model_status_pb2.ModelVersionStatus.State


@dataclasses.dataclass(frozen=True)
class Ranking:
  """The model's answer for one request.

  Attributes:
    scores: `[N]` float32 scores in candidate order (-inf for "" ids).
    top_k: (item id, score) of the best min(N, K) candidates, best first.
    model_version: the version that answered.
  """

  scores: np.ndarray
  top_k: List[Tuple[str, float]]
  model_version: int


@dataclasses.dataclass(frozen=True)
class VersionStatus:
  """A model version's state (AVAILABLE, LOADING, END, ...) and error, if any."""

  version: int
  state: str
  error_code: int = 0
  error_message: str = ""


def predict_request(model_name: str, inputs: Mapping[str, np.ndarray],
                    signature_name: str = model_serving.SERVING_DEFAULT,
                    version: Optional[int] = None,
                    version_label: Optional[str] = None,
                    output_filter: Sequence[str] = ()
                    ) -> predict_pb2.PredictRequest:
  """A standard PredictRequest (also the record type of warmup files)."""
  request = predict_pb2.PredictRequest(output_filter=list(output_filter))
  request.model_spec.name = model_name
  request.model_spec.signature_name = signature_name
  if version is not None:
    request.model_spec.version.value = version
  elif version_label:
    request.model_spec.version_label = version_label
  for name, value in inputs.items():
    # Many strings (candidate ids) as tensor_content, in TensorFlow's own
    # encoding (see serving/tensors.py).
    request.inputs[name].CopyFrom(tensors.to_proto(
        value, strings_as_content=np.size(value) > tensors.LARGE_STRINGS))
  return request


def ranking(outputs: Mapping[str, np.ndarray], row: int,
            candidates: Sequence[str], version: int) -> Ranking:
  """The Ranking of one row of serving_default's outputs."""
  n = len(candidates)
  top_k = [(candidates[i], s) for i, s in zip(
      outputs[model_serving.TOP_K_INDICES][row].tolist(),
      outputs[model_serving.TOP_K_SCORES][row].tolist())
           if i < n and math.isfinite(s)]
  return Ranking(scores=outputs[model_serving.SCORES][row, :n],
                 top_k=top_k, model_version=version)


class RankingClient:
  """Calls one model of a TF Serving (or local) server at `target`.

  Args:
    target: "host:port" of the gRPC server.
    model_name: the model to call (the name in models.config).
    timeout: seconds per call.
    version: call this version (default: the server's newest).
    version_label: call the version of this label (TF Serving labels).
    pad_candidates_to: pad every request's candidates to this many (TF
      Serving with batching needs one shape for all requests).
    history_length: pad or cut histories to this length.
    channel: an existing gRPC channel instead of one to `target`.
  """

  def __init__(self, target: str = DEFAULT_TARGET,
               model_name: str = constants.DEFAULT_MODEL_NAME, *,
               timeout: float = 10.0, version: Optional[int] = None,
               version_label: Optional[str] = None,
               pad_candidates_to: Optional[int] = None,
               history_length: Optional[int] = None,
               channel: Optional[grpc.Channel] = None):
    self.model_name = model_name
    self._timeout = timeout
    self._version = version
    self._version_label = version_label
    self._pad_candidates_to = pad_candidates_to
    self._history_length = history_length
    self._channel = channel or grpc.insecure_channel(
        target, options=constants.GRPC_OPTIONS)
    self._predictions = prediction_service_pb2_grpc.PredictionServiceStub(
        self._channel)
    self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)

  def close(self) -> None:
    self._channel.close()

  def __enter__(self) -> "RankingClient":
    return self

  def __exit__(self, *_) -> None:
    self.close()

  def _spec(self, request) -> None:
    request.model_spec.name = self.model_name
    if self._version is not None:
      request.model_spec.version.value = self._version
    elif self._version_label:
      request.model_spec.version_label = self._version_label

  def predict(self, inputs: Mapping[str, np.ndarray],
              signature_name: str = model_serving.SERVING_DEFAULT,
              output_filter: Sequence[str] = ()
              ) -> Tuple[Dict[str, np.ndarray], int]:
    """Calls a signature; returns its outputs and the version that answered.

    Raises:
      grpc.RpcError: the server's status, e.g. INVALID_ARGUMENT.
    """
    request = predict_request(self.model_name, inputs, signature_name,
                              self._version, self._version_label,
                              output_filter)
    response = self._predictions.Predict(request, timeout=self._timeout)
    outputs = {name: tensors.to_array(value)
               for name, value in response.outputs.items()}
    return outputs, response.model_spec.version.value

  def rank_batch(self, requests: Sequence[RankRequest]) -> List[Ranking]:
    """Scores the candidates of several requests in one call."""
    inputs = rank_inputs(requests, self._pad_candidates_to,
                         self._history_length)
    outputs, version = self.predict(inputs)
    return [ranking(outputs, i, r.candidate_item_ids, version)
            for i, r in enumerate(requests)]

  def rank(self, request: RankRequest) -> Ranking:
    """Scores the candidates of one request."""
    return self.rank_batch([request])[0]

  def signature_defs(self) -> Dict[str, meta_graph_pb2.SignatureDef]:
    """The model's signature definitions (GetModelMetadata)."""
    request = get_model_metadata_pb2.GetModelMetadataRequest(
        metadata_field=["signature_def"])
    self._spec(request)
    response = self._predictions.GetModelMetadata(request,
                                                  timeout=self._timeout)
    defs = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(defs)
    return dict(defs.signature_def)

  def status(self) -> List[VersionStatus]:
    """The state of each version of the model, newest first (GetModelStatus)."""
    request = get_model_status_pb2.GetModelStatusRequest()
    self._spec(request)
    response = self._models.GetModelStatus(request, timeout=self._timeout)
    return sorted((VersionStatus(
        version=s.version, state=_State.Name(s.state),
        error_code=s.status.error_code,
        error_message=s.status.error_message)
                   for s in response.model_version_status),
                  key=lambda s: -s.version)

  def available_version(self) -> Optional[int]:
    """The newest AVAILABLE version, None if none: the health check."""
    available = [s.version for s in self.status() if s.state == "AVAILABLE"]
    return max(available) if available else None

  def wait_until_available(self, timeout: float = 60.0,
                           version: Optional[int] = None) -> int:
    """Waits for a version (at least `version`) to be AVAILABLE; returns it.

    UNAVAILABLE and NOT_FOUND mean "not yet" (the server or the model still
    loading), as from TF Serving, so an unknown model also waits out the
    timeout; the TimeoutError then gives the server's last answer.

    Raises:
      TimeoutError: none was within `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
      try:
        available, last_error = self.available_version(), None
      except grpc.RpcError as e:  # Not up yet, or the model not loaded.
        if e.code() not in (grpc.StatusCode.UNAVAILABLE,
                            grpc.StatusCode.NOT_FOUND):
          raise
        available, last_error = None, e
      if available is not None and available >= (version or 0):
        return available
      if time.monotonic() > deadline:
        said = (f"; the server's last answer: {last_error.code().name}: "
                f"{last_error.details()}" if last_error else "")
        raise TimeoutError(f"no version >= {version or 0} of "
                           f"{self.model_name!r} available after {timeout} "
                           f"s{said}") from last_error
      time.sleep(0.1)
