"""TF Serving's gRPC services on the manager: PredictionService (Predict, GetModelMetadata) and ModelService (GetModelStatus)."""

import functools
import logging
from typing import Dict, Optional, Tuple

import grpc
import numpy as np
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving import batched
from serving import errors
from serving import manager as manager_lib
from serving import servable as servable_lib

_LOG = logging.getLogger(__name__)
SIGNATURE_DEF_FIELD = "signature_def"


def _rpc(method):
  """Answers a handler's errors with their gRPC status (errors.status)."""

  @functools.wraps(method)
  def handler(self, request, context: grpc.ServicerContext):
    try:
      return method(self, request, context)
    # Every error is answered; an unexpected one is logged with its
    # traceback by errors.status.
    except Exception as e:  # pylint: disable=broad-except
      code, message = errors.status(e, method.__name__, _LOG)
    context.abort(code, message)

  return handler


def _version_choice(spec: model_pb2.ModelSpec
                    ) -> Tuple[Optional[int], Optional[str]]:
  choice = spec.WhichOneof("version_choice")
  if choice == "version":
    return spec.version.value, None
  if choice == "version_label":
    return None, spec.version_label
  return None, None


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
  """Predict and GetModelMetadata; the other methods are not served.

  `servable`, `outputs` and `metadata` are the calls without gRPC, which
  the REST API answers too.
  """

  def __init__(self, manager: manager_lib.Manager,
               max_candidates: Optional[int] = None,
               batcher: Optional[batched.SignatureBatcher] = None):
    self._manager = manager
    self._max_candidates = max_candidates
    self._batcher = batcher

  def servable(self, spec: model_pb2.ModelSpec) -> servable_lib.Servable:
    """The servable a ModelSpec names (errors.ServingError if none)."""
    return self._manager.model(spec.name).servable(*_version_choice(spec))

  def outputs(self, servable: servable_lib.Servable,
              request: predict_pb2.PredictRequest) -> Dict[str, np.ndarray]:
    """The outputs of a PredictRequest on `servable` (Servable.run)."""
    return servable.run(request, self._max_candidates, self._batcher)

  @_rpc
  def Predict(self, request, context):
    servable = self.servable(request.model_spec)
    return servable.response(request, self.outputs(servable, request))

  @_rpc
  def GetModelMetadata(self, request, context):
    return self.metadata(request)

  def metadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest
               ) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """GetModelMetadata's answer (errors.ServingError for a bad request)."""
    fields = list(request.metadata_field)
    if not fields:
      raise errors.invalid_argument(
          "GetModelMetadataRequest must name a metadata_field, e.g. "
          f"{SIGNATURE_DEF_FIELD!r}")
    unsupported = sorted(set(fields) - {SIGNATURE_DEF_FIELD})
    if unsupported:
      raise errors.invalid_argument(
          f"unsupported metadata_field {unsupported}; only "
          f"{SIGNATURE_DEF_FIELD!r} is served")
    servable = self.servable(request.model_spec)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = request.model_spec.name
    response.model_spec.version.value = servable.version
    response.metadata[SIGNATURE_DEF_FIELD].Pack(servable.signature_defs)
    return response

  @_rpc
  def Classify(self, request, context):
    raise errors.unimplemented("Classify is not served: use Predict")

  @_rpc
  def Regress(self, request, context):
    raise errors.unimplemented("Regress is not served: use Predict")

  @_rpc
  def MultiInference(self, request, context):
    raise errors.unimplemented("MultiInference is not served: use Predict")


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
  """GetModelStatus, also the health check: a model is ready when a version is AVAILABLE."""

  def __init__(self, manager: manager_lib.Manager):
    self._manager = manager

  @_rpc
  def GetModelStatus(self, request, context):
    return self.status(request)

  def status(self, request: get_model_status_pb2.GetModelStatusRequest
             ) -> get_model_status_pb2.GetModelStatusResponse:
    """GetModelStatus's answer (errors.ServingError for a bad request)."""
    model = self._manager.model(request.model_spec.name)
    states = model.states()
    version, label = _version_choice(request.model_spec)
    if label:
      version = model.servable(label=label).version
    if version is not None:
      if version not in states:
        raise errors.not_found(
            f"unknown version {version} of model {model.name!r}; known "
            f"versions: {sorted(states)}")
      states = {version: states[version]}
    response = get_model_status_pb2.GetModelStatusResponse()
    for number in sorted(states, reverse=True):
      state = states[number]
      status = response.model_version_status.add(version=number,
                                                 state=state.state)
      status.status.error_code = errors.tf_code(state.error_code)
      status.status.error_message = state.error_message
    return response

  @_rpc
  def HandleReloadConfigRequest(self, request, context):
    raise errors.unimplemented(
        "the local server does not reload its config: restart it")
