"""Pusher: TFX's, except that a model whose files the newest pushed version already holds is not pushed again."""

import logging
from typing import Any, Dict, List, Optional, Tuple

import tensorflow as tf
from tfx import types
from tfx.components.pusher import component as pusher_component
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from serving import layout

# Custom property of the PushedModel artifact: 1 when the newest version
# already held the model, so nothing was copied; `pushed_destination` and
# `pushed_version` then name that version.
ALREADY_PUSHED = "already_pushed"


def _newest_version(exec_properties: Dict[str, Any]
                    ) -> Optional[Tuple[int, str]]:
  """(number, folder) of the newest version at a filesystem destination."""
  destination = pusher_pb2.PushDestination()
  proto_utils.json_to_proto(
      exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
      destination)
  if destination.WhichOneof("destination") != "filesystem":
    return None
  base = destination.filesystem.base_directory
  if not tf.io.gfile.isdir(base):
    return None
  versions = layout.list_versions(base)
  return max(versions.items()) if versions else None


class Executor(pusher_executor.Executor):
  """Pushes a blessed model unless the newest version holds the same files.

  Rerunning a pipeline whose Trainer was cached (or retrained the same
  model) blesses the same model again; TFX's Pusher would copy it to a new
  version folder, a new version for TF Serving to load. Here the pushed
  model artifact then points to the version that already serves it, with
  ALREADY_PUSHED set.
  """

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    newest = _newest_version(exec_properties)
    if newest is not None and self.CheckBlessing(input_dict):
      number, folder = newest
      model_path = self.GetModelPath(input_dict)
      if layout.content_digest(model_path) == layout.content_digest(folder):
        logging.info("Model %s is version %d already (%s): not pushed again.",
                     model_path, number, folder)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        self._MarkPushed(model_push, pushed_destination=folder,
                         pushed_version=str(number))
        model_push.set_int_custom_property(ALREADY_PUSHED, 1)
        return
    super().Do(input_dict, output_dict, exec_properties)


class Pusher(pusher_component.Pusher):
  """tfx.components.Pusher with the Executor above."""

  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
