"""A gRPC PredictionService that does no work: the floor of Python's gRPC stack under the local server (for benchmarks).

    python -m testing.grpc_floor --response FILE [--host H] [--port 0]

Answers every Predict with the PredictResponse serialized in FILE (a real
answer, so the response is as large as the server's), on the local server's
gRPC options and thread pool, and prints `serving on HOST:PORT` once it
listens. A client's latency against it is what sending a request and reading
an answer costs both sides, without checks, parsing or the model: the part
of a gRPC call the local server's own work cannot remove.
"""

import argparse
import concurrent.futures
import signal
import sys
from typing import Tuple

import grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving import server as server_lib

WORKERS = 16  # As `coarse-rank serve --max-workers` in the benchmark.


class FixedAnswer(prediction_service_pb2_grpc.PredictionServiceServicer):
  """Predict answers `response` whatever the request."""

  def __init__(self, response: predict_pb2.PredictResponse):
    self._response = response

  def Predict(self, request, context):  # pylint: disable=invalid-name
    return self._response


def serve(response: predict_pb2.PredictResponse, host: str = "127.0.0.1",
          port: int = 0) -> Tuple[grpc.Server, int]:
  """Starts the server; returns it and the port it listens on."""
  server = grpc.server(
      concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS),
      options=server_lib.SERVER_OPTIONS)
  prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
      FixedAnswer(response), server)
  bound = server.add_insecure_port(f"{host}:{port}")
  server.start()
  return server, bound


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--response", required=True,
                      help="a serialized PredictResponse, the answer to "
                           "every Predict")
  parser.add_argument("--host", default="127.0.0.1")
  parser.add_argument("--port", type=int, default=0)
  args = parser.parse_args(argv)
  with open(args.response, "rb") as f:
    response = predict_pb2.PredictResponse.FromString(f.read())
  server, bound = serve(response, args.host, args.port)
  print(f"serving on {args.host}:{bound}", flush=True)
  signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
  server.wait_for_termination()


if __name__ == "__main__":
  main()
