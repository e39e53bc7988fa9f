"""The benchmarks' no-work gRPC server answers every Predict with its fixed response."""

import grpc
import numpy as np
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving import client as client_lib
from serving import tensors
from testing import grpc_floor


def test_every_predict_gets_the_fixed_response():
  response = predict_pb2.PredictResponse()
  response.model_spec.version.value = 7
  response.outputs["scores"].CopyFrom(
      tensors.to_proto(np.array([[0.5, -1.0]], np.float32)))
  server, port = grpc_floor.serve(response)
  try:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
      predictions = prediction_service_pb2_grpc.PredictionServiceStub(channel)
      for ids in (["a"], ["b", "c", "d"]):
        request = client_lib.predict_request(
            "any", {"candidate_item_ids": np.array([[i.encode() for i in ids]], dtype=object)})
        assert predictions.Predict(request, timeout=30) == response
  finally:
    server.stop(0)
