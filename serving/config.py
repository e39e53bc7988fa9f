"""Which models to serve: TF Serving's ModelServerConfig, read from a file or built from flags."""

import dataclasses
from typing import Dict, List, Optional, Sequence

from google.protobuf import text_format
import tensorflow as tf
from tensorflow_serving.config import model_server_config_pb2

from serving import constants

_PLATFORM = "tensorflow"


class ConfigError(ValueError):
  """The model configuration is not one the server can serve."""


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
  """Which versions to serve (TF Serving's ServableVersionPolicy).

  Attributes:
    latest: serve the newest `latest` versions (TF Serving's default, 1).
    specific: serve exactly these versions (when not empty).
    all: serve every version.
  """

  latest: int = 1
  specific: Sequence[int] = ()
  all: bool = False

  def select(self, versions: Sequence[int]) -> List[int]:
    """The versions to serve among `versions`, newest first."""
    newest_first = sorted(versions, reverse=True)
    if self.all:
      return newest_first
    if self.specific:
      return [v for v in newest_first if v in self.specific]
    return newest_first[:self.latest]


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """One model: a name and a base path holding numeric version folders."""

  name: str
  base_path: str
  policy: VersionPolicy = VersionPolicy()
  version_labels: Dict[str, int] = dataclasses.field(default_factory=dict)


def _from_proto(proto: model_server_config_pb2.ModelConfig) -> ModelConfig:
  if not proto.name or not proto.base_path:
    raise ConfigError(f"every model needs a name and a base_path: {proto}")
  if proto.model_platform not in ("", _PLATFORM):
    raise ConfigError(f"model {proto.name!r}: model_platform must be "
                      f"{_PLATFORM!r}, got {proto.model_platform!r}")
  if proto.HasField("logging_config"):
    raise ConfigError(f"model {proto.name!r}: logging_config is not "
                      "supported by the local server")
  policy = proto.model_version_policy
  kind = policy.WhichOneof("policy_choice")
  if kind == "specific":
    if not policy.specific.versions:
      raise ConfigError(f"model {proto.name!r}: specific policy without "
                        "versions")
    parsed = VersionPolicy(specific=tuple(policy.specific.versions))
  elif kind == "all":
    parsed = VersionPolicy(all=True)
  else:
    parsed = VersionPolicy(latest=max(1, policy.latest.num_versions))
  return ModelConfig(name=proto.name, base_path=proto.base_path,
                     policy=parsed, version_labels=dict(proto.version_labels))


def parse(text: str) -> List[ModelConfig]:
  """Models of a ModelServerConfig text proto (a `models.config` file)."""
  proto = model_server_config_pb2.ModelServerConfig()
  try:
    text_format.Parse(text, proto)
  except text_format.ParseError as e:
    raise ConfigError(f"not a ModelServerConfig text proto: {e}") from e
  if proto.WhichOneof("config") != "model_config_list":
    raise ConfigError("the config needs a model_config_list "
                      "(custom_model_config is not supported)")
  models = [_from_proto(m) for m in proto.model_config_list.config]
  if not models:
    raise ConfigError("the model_config_list is empty")
  names = [m.name for m in models]
  if len(set(names)) != len(names):
    raise ConfigError(f"model names repeat: {names}")
  return models


def from_flags(model_name: Optional[str], model_base_path: Optional[str],
               model_config_file: Optional[str]) -> List[ModelConfig]:
  """Models named by tensorflow_model_server's flags.

  Either `model_config_file`, or `model_base_path` (and optionally
  `model_name`, default "coarse_ranker"), as tensorflow_model_server takes
  them.
  """
  if model_config_file:
    if model_base_path:
      raise ConfigError("pass either --model_config_file or "
                        "--model_base_path, not both")
    try:
      with tf.io.gfile.GFile(model_config_file) as f:
        text = f.read()
    except tf.errors.OpError as e:
      raise ConfigError(f"cannot read {model_config_file}: {e.message}") from e
    return parse(text)
  if not model_base_path:
    raise ConfigError("pass --model_base_path (and --model_name) or "
                      "--model_config_file")
  return [ModelConfig(name=model_name or constants.DEFAULT_MODEL_NAME,
                      base_path=model_base_path)]
