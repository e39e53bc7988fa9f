"""A finished pipeline run as ML Metadata records it: `read_run` and `RunResult`, where its outputs are found."""

import dataclasses
import os
from typing import Dict, List, Optional, Sequence

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata

from components.push import pusher as pusher_lib
from tfx_pipeline import config as config_lib

PIPELINE_DIR = "pipeline"
METADATA_FILE = "metadata.sqlite"
SERVING_DIR = "serving"

# Component ids and output keys, as create_pipeline names them.
EXAMPLE_GEN = "ListwiseExampleGen"
TRANSFORM = "Transform"
TRAINER = "Trainer"
VALIDATOR = "HitrateValidator"
PUSHER = "Pusher"

_STATES = {
    metadata_store_pb2.Execution.COMPLETE: "ran",
    metadata_store_pb2.Execution.CACHED: "cached",
    metadata_store_pb2.Execution.FAILED: "failed",
    metadata_store_pb2.Execution.RUNNING: "running",
}
_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT,
                  metadata_store_pb2.Event.DECLARED_OUTPUT)


class NoRunError(FileNotFoundError):
  """No run (or not the one asked for) is recorded in the ML Metadata store."""


@dataclasses.dataclass(frozen=True)
class OutputLayout:
  """Where a local run writes, all under one output directory."""
  output_dir: str

  @property
  def pipeline_root(self) -> str:
    return os.path.join(self.output_dir, PIPELINE_DIR)

  @property
  def metadata_path(self) -> str:
    return os.path.join(self.output_dir, METADATA_FILE)

  @property
  def serving_dir(self) -> str:
    return os.path.join(self.output_dir, SERVING_DIR)


@dataclasses.dataclass(frozen=True)
class ComponentRun:
  """One component of a run: its id, state (ran, cached, ...) and outputs.

  Attributes:
    component: the node id, e.g. "Trainer".
    state: "ran", "cached", "failed", "running" or "unknown".
    seconds: wall time of the execution.
    started: when it started, in seconds since the epoch.
    execution_id: its ML Metadata execution id.
    outputs: output key -> URIs of its output artifacts.
    properties: output artifact URI -> its custom properties.
  """
  component: str
  state: str
  seconds: float
  started: float
  execution_id: int
  outputs: Dict[str, List[str]]
  properties: Dict[str, Dict[str, object]]


def _output(component: str, key: str) -> property:
  """A RunResult property: the URI of `component`'s single `key` output."""
  return property(lambda result: result.uri(component, key),
                  doc=f"The URI of {component}'s {key!r} output.")


@dataclasses.dataclass(frozen=True)
class RunResult:
  """A pipeline run as ML Metadata records it.

  Attributes:
    layout: where the run wrote.
    pipeline_name: the pipeline's name.
    components: each component of the run, in execution order.
  """
  layout: OutputLayout
  pipeline_name: str
  components: List[ComponentRun]

  def component(self, component: str) -> ComponentRun:
    for run in self.components:
      if run.component == component:
        return run
    raise NoRunError(f"component {component} is not part of the newest run "
                     f"of {self.pipeline_name} in {self.layout.metadata_path} "
                     f"(it has {[r.component for r in self.components]})")

  def uri(self, component: str, key: str) -> str:
    """The URI of the single `key` output of `component`."""
    uris = self.component(component).outputs.get(key, [])
    if len(uris) != 1:
      raise NoRunError(f"{component} has {len(uris)} {key!r} outputs in "
                       f"{self.layout.metadata_path}, expected 1")
    return uris[0]

  def properties(self, component: str, key: str) -> Dict[str, object]:
    """The custom properties of the single `key` output of `component`."""
    return self.component(component).properties[self.uri(component, key)]

  def split(self, component: str, key: str, split: str) -> str:
    """The folder of one split of an Examples output."""
    return split_uri(self.uri(component, key), split)

  # The single output URIs a caller usually wants.
  examples = _output(EXAMPLE_GEN, "examples")
  eval_candidates = _output(EXAMPLE_GEN, "eval_candidates")
  listwise_report = _output(EXAMPLE_GEN, "report")
  transformed_examples = _output(TRANSFORM, "transformed_examples")
  transform_graph = _output(TRANSFORM, "transform_graph")
  model = _output(TRAINER, "model")
  metrics = _output(VALIDATOR, "metrics")
  blessing = _output(VALIDATOR, "blessing")

  @property
  def blessed(self) -> bool:
    return bool(self.properties(VALIDATOR, "blessing").get("blessed"))

  @property
  def pushed_version(self) -> Optional[str]:
    """The version folder serving the run's model, None if it was not pushed.

    The folder the Pusher wrote, or the newest version when that already
    held the same model (see `already_pushed`).
    """
    pushed = self.properties(PUSHER, "pushed_model")
    return str(pushed["pushed_destination"]) if pushed.get("pushed") else None

  @property
  def already_pushed(self) -> bool:
    """Whether the model was not pushed again: the newest version held it."""
    return bool(self.properties(PUSHER, "pushed_model").get(
        pusher_lib.ALREADY_PUSHED))


def split_uri(artifact_uri: str, split: str) -> str:
  """The folder of one split of an Examples artifact (TFX's layout)."""
  return os.path.join(artifact_uri, f"Split-{split}")


def _store(metadata_path: str) -> mlmd.MetadataStore:
  if not os.path.exists(metadata_path):
    raise NoRunError(f"no ML Metadata store at {metadata_path}")
  return mlmd.MetadataStore(
      metadata.sqlite_metadata_connection_config(metadata_path))


def _component_run(store: mlmd.MetadataStore,
                   execution: metadata_store_pb2.Execution,
                   node_type: int) -> ComponentRun:
  nodes = [c.name for c in store.get_contexts_by_execution(execution.id)
           if c.type_id == node_type]
  outputs: Dict[str, List[str]] = {}
  events = [e for e in store.get_events_by_execution_ids([execution.id])
            if e.type in _OUTPUT_EVENTS]
  artifacts = {a.id: a for a in store.get_artifacts_by_id(
      [e.artifact_id for e in events])}
  properties: Dict[str, Dict[str, object]] = {}
  for event in events:
    key = event.path.steps[0].key if event.path.steps else ""
    artifact = artifacts[event.artifact_id]
    outputs.setdefault(key, []).append(artifact.uri)
    properties[artifact.uri] = {
        name: getattr(value, value.WhichOneof("value"))
        for name, value in artifact.custom_properties.items()
        if value.WhichOneof("value")}
  return ComponentRun(
      component=nodes[0].split(".", 1)[-1] if nodes else str(execution.id),
      state=_STATES.get(execution.last_known_state, "unknown"),
      seconds=(execution.last_update_time_since_epoch
               - execution.create_time_since_epoch) / 1000.0,
      started=execution.create_time_since_epoch / 1000.0,
      execution_id=execution.id, outputs=outputs, properties=properties)


def read_run(output_dir: str,
             pipeline_name: str = config_lib.DEFAULT_PIPELINE_NAME
             ) -> RunResult:
  """The newest run of `pipeline_name` recorded under `output_dir`."""
  layout = OutputLayout(os.path.abspath(output_dir))
  store = _store(layout.metadata_path)
  runs = [c for c in store.get_contexts_by_type("pipeline_run")
          if any(p.name == pipeline_name
                 for p in store.get_parent_contexts_by_context(c.id))]
  if not runs:
    raise NoRunError(f"no run of pipeline {pipeline_name!r} in "
                     f"{layout.metadata_path}")
  newest = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
  node_type = store.get_context_type("node").id
  executions = sorted(store.get_executions_by_context(newest.id),
                      key=lambda e: e.id)
  return RunResult(layout, pipeline_name,
                   [_component_run(store, e, node_type) for e in executions])


def executions_of(output_dir: str, component: str,
                  pipeline_name: str = config_lib.DEFAULT_PIPELINE_NAME
                  ) -> List[ComponentRun]:
  """Every recorded execution of `component`, oldest first."""
  layout = OutputLayout(os.path.abspath(output_dir))
  store = _store(layout.metadata_path)
  node_type = store.get_context_type("node")
  if node_type is None:
    return []
  name = f"{pipeline_name}.{component}"
  nodes = [c for c in store.get_contexts_by_type("node") if c.name == name]
  executions = sorted((e for c in nodes
                       for e in store.get_executions_by_context(c.id)),
                      key=lambda e: e.id)
  return [_component_run(store, e, node_type.id) for e in executions]


def format_runs(runs: Sequence[ComponentRun], total_s: float) -> str:
  lines = [f"{'component':<24}{'state':<10}{'seconds':>10}"]
  lines += [f"{r.component:<24}{r.state:<10}{r.seconds:>10.1f}" for r in runs]
  lines.append(f"{'whole run':<34}{total_s:>10.1f}")
  return "\n".join(lines)
