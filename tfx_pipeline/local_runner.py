"""The local runner: resolves paths, runs create_pipeline on LocalDagRunner, reports per-component times."""

import dataclasses
import logging
import os
import time
from typing import List, Optional

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx
from tfx.orchestration import metadata

from components import beam_direct
from tfx_pipeline import pipeline as pipeline_lib

PIPELINE_DIR = "pipeline"
METADATA_FILE = "metadata.sqlite"
SERVING_DIR = "serving"
DEFAULT_PIPELINE_NAME = pipeline_lib.DEFAULT_PIPELINE_NAME

_STATES = {
    metadata_store_pb2.Execution.COMPLETE: "ran",
    metadata_store_pb2.Execution.CACHED: "cached",
    metadata_store_pb2.Execution.FAILED: "failed",
    metadata_store_pb2.Execution.RUNNING: "running",
}


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
  component: str
  state: str
  seconds: float


def beam_args(mode: str, workers: int, extra: List[str]) -> List[str]:
  """DirectRunner options: multi_processing with `workers` or in_memory."""
  args = ["--runner=DirectRunner", f"--direct_running_mode={mode}"]
  if mode != "in_memory":
    args.append(f"--direct_num_workers={workers}")
  return args + list(extra)


def component_runs(metadata_path: str, pipeline_name: str
                   ) -> List[ComponentRun]:
  """Components of the newest run, in execution order, from ML Metadata."""
  store = mlmd.MetadataStore(
      metadata.sqlite_metadata_connection_config(metadata_path))
  runs = [c for c in store.get_contexts_by_type("pipeline_run")
          if c.name and any(
              p.name == pipeline_name
              for p in store.get_parent_contexts_by_context(c.id))]
  if not runs:
    runs = store.get_contexts_by_type("pipeline_run")
  if not runs:
    return []
  newest = max(runs, key=lambda c: c.create_time_since_epoch)
  node_type = store.get_context_type("node").id
  out = []
  for execution in sorted(store.get_executions_by_context(newest.id),
                          key=lambda e: e.id):
    nodes = [c.name for c in store.get_contexts_by_execution(execution.id)
             if c.type_id == node_type]
    name = nodes[0].split(".", 1)[-1] if nodes else str(execution.id)
    out.append(ComponentRun(
        name, _STATES.get(execution.last_known_state, "unknown"),
        (execution.last_update_time_since_epoch
         - execution.create_time_since_epoch) / 1000.0))
  return out


def format_runs(runs: List[ComponentRun], total_s: float) -> str:
  lines = [f"{'component':<24}{'state':<10}{'seconds':>10}"]
  lines += [f"{r.component:<24}{r.state:<10}{r.seconds:>10.1f}" for r in runs]
  lines.append(f"{'whole run':<34}{total_s:>10.1f}")
  return "\n".join(lines)


def run(logs_dir: str, output_dir: str,
        pipeline_name: str = DEFAULT_PIPELINE_NAME,
        beam_pipeline_args: Optional[List[str]] = None,
        **pipeline_kwargs) -> List[ComponentRun]:
  """Runs the pipeline locally; a second run reuses unchanged results.

  Args:
    logs_dir: raw logs.
    output_dir: pipeline root, ML Metadata (SQLite) and serving directory go
      under it (see OutputLayout).
    pipeline_name: pipeline name (and ML Metadata context).
    beam_pipeline_args: Beam options (see beam_args).
    **pipeline_kwargs: further create_pipeline arguments.

  Returns:
    Each component of the run with its state and duration.
  """
  layout = OutputLayout(os.path.abspath(output_dir))
  os.makedirs(layout.output_dir, exist_ok=True)
  beam_direct.use_size_based_runner_flush()
  pipeline = pipeline_lib.create_pipeline(
      pipeline_name=pipeline_name, pipeline_root=layout.pipeline_root,
      logs_dir=os.path.abspath(logs_dir), serving_dir=layout.serving_dir,
      beam_pipeline_args=beam_pipeline_args,
      metadata_connection_config=(
          tfx.orchestration.metadata.sqlite_metadata_connection_config(
              layout.metadata_path)),
      **pipeline_kwargs)
  start = time.time()
  logging.info("running pipeline %s: logs %s -> %s", pipeline_name,
               logs_dir, layout.output_dir)
  tfx.orchestration.LocalDagRunner().run(pipeline)
  runs = component_runs(layout.metadata_path, pipeline_name)
  logging.info("pipeline finished in %.1fs\n%s", time.time() - start,
               format_runs(runs, time.time() - start))
  return runs
