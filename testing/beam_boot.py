"""A Beam SDK worker boot program in Python, for a worker pool's --container_executable.

Beam's SDK containers start their Python workers with a boot program (Go,
`sdks/python/container/boot.go`): it is called with the endpoints of one
worker (`--id`, `--provision_endpoint`, `--control_endpoint`,
`--logging_endpoint`, `--artifact_endpoint`), asks the runner's provision
service for the job's pipeline options and endpoints, and runs
`apache_beam.runners.worker.sdk_worker_main` with them in its environment.
This module does the same, so the workers of a local worker pool
(`worker_pool_main --container_executable`) get the job's pipeline options
(`--beam_plugins` and the like) as a cluster's workers do; the pool's own
default launches a bare SDK harness without them. Unlike the container, it
installs no staged artifacts: the project must be importable already.

With BEAM_BOOT_RECORD_DIR set, each worker writes
`<dir>/worker-<pid>.json` (its pid, parent pid and worker id) before it
starts, so a test can tell which processes served its jobs.
"""

import argparse
import json
import os
import sys
from typing import List, Optional

import grpc
from google.protobuf import json_format
from google.protobuf import text_format

from apache_beam.portability.api import beam_provision_api_pb2
from apache_beam.portability.api import beam_provision_api_pb2_grpc
from apache_beam.portability.api import endpoints_pb2
from apache_beam.runners.worker import sdk_worker_main

RECORD_DIR_ENV = "BEAM_BOOT_RECORD_DIR"
PROVISION_TIMEOUT_S = 60


def _descriptor(url: str) -> str:
  return text_format.MessageToString(endpoints_pb2.ApiServiceDescriptor(
      url=url))


def _provision_info(endpoint: str, worker_id: str
                    ) -> beam_provision_api_pb2.ProvisionInfo:
  """The job's provision info; the runner knows the worker by its metadata."""
  with grpc.insecure_channel(endpoint) as channel:
    provision = beam_provision_api_pb2_grpc.ProvisionServiceStub(channel)
    return provision.GetProvisionInfo(
        beam_provision_api_pb2.GetProvisionInfoRequest(),
        metadata=[("worker_id", worker_id)],
        timeout=PROVISION_TIMEOUT_S).info


def worker_environment(worker_id: str, control: str, logging_endpoint: str,
                       info: beam_provision_api_pb2.ProvisionInfo) -> dict:
  """The variables `sdk_worker_main` reads, as Beam's boot program sets them.

  The provision info's endpoints take precedence over the flags', as in
  boot.go.
  """
  env = {
      "WORKER_ID": worker_id,
      "PIPELINE_OPTIONS": json_format.MessageToJson(info.pipeline_options),
      "CONTROL_API_SERVICE_DESCRIPTOR": _descriptor(
          info.control_endpoint.url or control),
      "LOGGING_API_SERVICE_DESCRIPTOR": _descriptor(
          info.logging_endpoint.url or logging_endpoint),
      "RUNNER_CAPABILITIES": " ".join(info.runner_capabilities),
  }
  if info.status_endpoint.url:
    env["STATUS_API_SERVICE_DESCRIPTOR"] = _descriptor(
        info.status_endpoint.url)
  return env


def _record(worker_id: str, info: beam_provision_api_pb2.ProvisionInfo
            ) -> None:
  """Writes this worker's pid, parent pid, id and job options, if asked."""
  record_dir = os.environ.get(RECORD_DIR_ENV)
  if not record_dir:
    return
  path = os.path.join(record_dir, f"worker-{os.getpid()}.json")
  with open(path, "w") as f:
    json.dump({"pid": os.getpid(), "ppid": os.getppid(),
               "worker_id": worker_id,
               "pipeline_options": json_format.MessageToDict(
                   info.pipeline_options)}, f)


def main(argv: Optional[List[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--id", required=True)
  parser.add_argument("--provision_endpoint", required=True)
  parser.add_argument("--control_endpoint", required=True)
  parser.add_argument("--logging_endpoint", required=True)
  parser.add_argument("--artifact_endpoint", default="")
  args = parser.parse_args(argv)
  info = _provision_info(args.provision_endpoint, args.id)
  os.environ.update(worker_environment(args.id, args.control_endpoint,
                                       args.logging_endpoint, info))
  _record(args.id, info)
  # The pool reads nothing of a worker's stdout from its pipe: send prints
  # to stderr, so that a full pipe never blocks a worker.
  os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
  sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
  main()
