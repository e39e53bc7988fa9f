"""One loaded model version: its signatures, their definitions, and Predict on them."""

import os
from typing import Dict, Mapping, Optional

import numpy as np
import tensorflow as tf
from tensorflow.python.saved_model import loader_impl
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import predict_pb2

from serving import batched
from serving import errors
from serving import layout
from serving import signature as signature_lib
from serving import tensors

SERVE_TAG = "serve"
DEFAULT_SIGNATURE = "serving_default"


class LoadError(Exception):
  """A version folder does not hold a SavedModel that can be served."""


def _signature_defs(path: str) -> get_model_metadata_pb2.SignatureDefMap:
  """The signature definitions of the `serve` meta graph of saved_model.pb."""
  pb_path = os.path.join(path, layout.SAVED_MODEL_FILE)
  if not tf.io.gfile.exists(pb_path):
    raise LoadError(f"{path} has no {layout.SAVED_MODEL_FILE}")
  try:
    proto = loader_impl.parse_saved_model(path)
  except OSError as e:  # The loader's error for a file it cannot parse.
    raise LoadError(f"{pb_path} is not a SavedModel: {e}") from e
  for meta_graph in proto.meta_graphs:
    if SERVE_TAG in meta_graph.meta_info_def.tags:
      out = get_model_metadata_pb2.SignatureDefMap()
      for name, definition in meta_graph.signature_def.items():
        out.signature_def[name].CopyFrom(definition)
      return out
  raise LoadError(f"{pb_path} has no meta graph tagged {SERVE_TAG!r}")


class Servable:
  """A SavedModel version loaded for serving.

  Attributes:
    version: the version number (its folder name).
    path: the version folder.
    signatures: name -> Signature, the callable signatures.
    signature_defs: the SignatureDefMap GetModelMetadata returns.
  """

  def __init__(self, version: int, path: str):
    self.version = version
    self.path = path
    self.signature_defs = _signature_defs(path)
    self._model = tf.saved_model.load(path, tags=[SERVE_TAG])
    self.signatures: Dict[str, signature_lib.Signature] = {
        name: signature_lib.Signature(name, function)
        for name, function in self._model.signatures.items()}
    if not self.signatures:
      raise LoadError(f"{path} has no serving signatures")

  def signature(self, name: str) -> signature_lib.Signature:
    name = name or DEFAULT_SIGNATURE
    if name not in self.signatures:
      raise errors.invalid_argument(
          f"unknown signature {name!r}; version {self.version} has "
          f"{sorted(self.signatures)}")
    return self.signatures[name]

  def run(self, request: predict_pb2.PredictRequest,
          max_candidates: Optional[int] = None,
          batcher: Optional[batched.SignatureBatcher] = None
          ) -> Dict[str, np.ndarray]:
    """The outputs of a PredictRequest (its model name is not checked here).

    Args:
      request: the request.
      max_candidates: the server's candidate limit, if any.
      batcher: runs the call in a batch with concurrent ones, if given and
        the signature is batchable.

    Raises:
      errors.ServingError: an invalid request (see Signature.check_values), or
        UNAVAILABLE from the batcher.
      tf.errors.OpError: the signature's own checks failed.
    """
    signature = self.signature(request.model_spec.signature_name)
    output_filter = list(request.output_filter)
    if batcher is None or not signature.batchable:
      return signature.call(request.inputs, max_candidates, output_filter)
    signature.check_values(request.inputs, max_candidates)
    signature.check_output_filter(output_filter)
    return batcher.run(signature, request.inputs, output_filter)

  def response(self, request: predict_pb2.PredictRequest,
               outputs: Mapping[str, np.ndarray]
               ) -> predict_pb2.PredictResponse:
    """The PredictResponse of a request's outputs, naming this version."""
    response = predict_pb2.PredictResponse()
    response.model_spec.name = request.model_spec.name
    response.model_spec.version.value = self.version
    response.model_spec.signature_name = self.signature(
        request.model_spec.signature_name).name
    for name, value in outputs.items():
      response.outputs[name].CopyFrom(tensors.to_proto(value))
    return response

  def predict(self, request: predict_pb2.PredictRequest,
              max_candidates: Optional[int] = None
              ) -> predict_pb2.PredictResponse:
    """Runs a PredictRequest unbatched (see `run`); its response."""
    return self.response(request, self.run(request, max_candidates))
