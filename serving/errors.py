"""Errors a request can end in, as gRPC status codes, and TensorFlow's errors mapped onto them."""

import logging
import re
from typing import Tuple

import grpc
import tensorflow as tf

# TensorFlow's error codes are the canonical gRPC codes (same numbers).
_GRPC_CODES = {code.value[0]: code for code in grpc.StatusCode}

# Lines TensorFlow wraps around an op's own message ("Graph execution
# error:", "Detected at node ...", the Python stack, "[[{{node ...}}]]"):
# they locate the op in the graph and say nothing to a client.
_LOCATION_LINE = re.compile(
    r"^(Graph execution error:|Detected at node .*|<stack traces unavailable>"
    r"|Node: .*|\s+File \".*|\s{4,}.*|\s*\[\[.*\]\])$")


class ServingError(Exception):
  """A request the server refuses, with the gRPC status code to answer."""

  def __init__(self, code: grpc.StatusCode, message: str):
    super().__init__(message)
    self.code = code
    self.message = message


def invalid_argument(message: str) -> ServingError:
  return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
  return ServingError(grpc.StatusCode.NOT_FOUND, message)


def unavailable(message: str) -> ServingError:
  return ServingError(grpc.StatusCode.UNAVAILABLE, message)


def unimplemented(message: str) -> ServingError:
  return ServingError(grpc.StatusCode.UNIMPLEMENTED, message)


def from_tf(error: tf.errors.OpError) -> Tuple[grpc.StatusCode, str]:
  """The gRPC status of a TensorFlow op error, e.g. a failed assertion.

  `InvalidArgumentError` (a signature's own checks) becomes INVALID_ARGUMENT,
  `ResourceExhaustedError` RESOURCE_EXHAUSTED, and so on: TensorFlow's codes
  are gRPC's.
  """
  code = _GRPC_CODES.get(error.error_code, grpc.StatusCode.UNKNOWN)
  lines = [line for line in error.message.splitlines()
           if line.strip() and not _LOCATION_LINE.match(line)]
  return code, " ".join(line.strip() for line in lines) or error.message


def status(error: Exception, call: str,
           logger: logging.Logger) -> Tuple[grpc.StatusCode, str]:
  """The status a failed call answers with.

  ServingError carries its code; TensorFlow's op errors (a signature's own
  checks) map to theirs (`from_tf`); anything else is a bug: logged by
  `logger` with its traceback and answered INTERNAL.
  """
  if isinstance(error, ServingError):
    return error.code, error.message
  if isinstance(error, tf.errors.OpError):
    return from_tf(error)
  logger.error("%s failed", call, exc_info=error)
  return grpc.StatusCode.INTERNAL, f"{call} failed; see the server log"


def tf_code(code: grpc.StatusCode) -> int:
  """The `tensorflow.error.Code` number of a gRPC code, for StatusProto."""
  return code.value[0]
