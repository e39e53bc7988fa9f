"""Warmup of a new version before it serves: TF Serving's warmup records, else a smoke request.

TF Serving replays `assets.extra/tf_serving_warmup_requests`, a TFRecord file
of `PredictionLog` protos, when it loads a version; a failing record fails
the load. The local server does the same for `predict_log` records (the
only kind a predict-only model has) and, without the file, calls every
signature once on a minimal request, so a version that cannot run is never
served; on a server that batches, the merged call of each batchable
signature it calls too.
`models.serving.write_warmup_requests` writes the file.
"""

import os
from typing import Dict, List, Mapping

import tensorflow as tf
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2

from models import serving as model_serving
from serving import tensors

# TF Serving refuses a warmup file with more records than this.
MAX_RECORDS = 1000


class WarmupError(Exception):
  """The warmup file cannot be replayed."""


def read(path: str) -> List[predict_pb2.PredictRequest]:
  """The PredictRequests of a warmup file.

  Raises:
    WarmupError: more than MAX_RECORDS records, or a record that is not a
      `predict_log`.
    tf.errors.DataLossError: the file is not a valid TFRecord file.
  """
  requests = []
  for i, record in enumerate(tf.data.TFRecordDataset(path)):
    if i >= MAX_RECORDS:
      raise WarmupError(f"{path} has more than {MAX_RECORDS} records")
    log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
    kind = log.WhichOneof("log_type")
    if kind != "predict_log":
      raise WarmupError(f"{path} record {i} is a {kind}; only predict_log "
                        "records are supported")
    requests.append(log.predict_log.request)
  return requests


def run(servable, batching: bool = False) -> int:
  """Warms `servable` up; returns the number of requests run.

  With `batching` (a server that batches), every batchable signature the
  warmup called also runs its merged call (Signature.call_batch) on a batch
  of one and a batch of two copies of its first warmup request: otherwise
  the first batch a version serves pays its merged call's first run (0.25 s
  in two loads of a 1,000-candidate model here; 2 to 10 ms so warmed).

  Raises whatever the first failing request raises (errors.ServingError,
  tf.errors.OpError) or WarmupError.
  """
  path = os.path.join(servable.path, model_serving.WARMUP_FILE)
  # Signature -> the inputs of its first warmup request, as TensorProtos.
  first: Dict[str, Mapping[str, tensor_pb2.TensorProto]] = {}
  if tf.io.gfile.exists(path):
    requests = read(path)
    for request in requests:
      servable.predict(request)
      name = servable.signature(request.model_spec.signature_name).name
      first.setdefault(name, request.inputs)
    num_run = len(requests)
  else:
    for name, signature in servable.signatures.items():
      first[name] = {key: tensors.to_proto(value.numpy())
                     for key, value in signature.smoke_inputs().items()}
      signature.call(first[name])
    num_run = len(servable.signatures)
  if batching:
    for name, inputs in first.items():
      signature = servable.signature(name)
      if signature.batchable:
        signature.call_batch([inputs])
        signature.call_batch([inputs, inputs])
  return num_run
