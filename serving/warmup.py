"""Warmup of a new version before it serves: TF Serving's warmup records, else a smoke request.

TF Serving replays `assets.extra/tf_serving_warmup_requests`, a TFRecord file
of `PredictionLog` protos, when it loads a version; a failing record fails
the load. The local server does the same for `predict_log` records (the
only kind a predict-only model has) and, without the file, calls every
signature once on a minimal request, so a version that cannot run is never
served. `models.serving.write_warmup_requests` writes the file.
"""

import os
from typing import List

import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2

from models import serving as model_serving

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


def run(servable) -> int:
  """Warms `servable` up; returns the number of requests run.

  Raises whatever the first failing request raises (errors.ServingError,
  tf.errors.OpError) or WarmupError.
  """
  path = os.path.join(servable.path, model_serving.WARMUP_FILE)
  if tf.io.gfile.exists(path):
    requests = read(path)
    for request in requests:
      servable.predict(request)
    return len(requests)
  for signature in servable.signatures.values():
    signature.run(signature.smoke_inputs())
  return len(servable.signatures)
