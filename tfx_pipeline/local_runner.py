"""The local runner: the one place a pipeline runs on LocalDagRunner (reading the run back: run_result.py; Beam options: beam_options.py)."""

import glob
import logging
import os
import shutil
import time
from typing import Optional, Sequence

from tfx import v1 as tfx
from tfx.orchestration import metadata

from components import beam_direct
from components import local_packaging
from components.raw_logs import files as log_files
from tfx_pipeline import beam_options
from tfx_pipeline import config as config_lib
from tfx_pipeline import outputs
from tfx_pipeline import pipeline as pipeline_lib
from tfx_pipeline import run_result


class Interrupted(RuntimeError):
  """The run was interrupted (Ctrl-C); the running components' partial
  outputs were removed.

  Attributes:
    components: the components that were running.
    removed: the output folders removed.
  """

  def __init__(self, components: Sequence[str], removed: Sequence[str]):
    self.components = list(components)
    self.removed = list(removed)
    during = ", ".join(components) or "the pipeline's start"
    super().__init__(
        f"interrupted during {during}"
        + (f"; removed its partial outputs ({len(removed)} folders)"
           if removed else ""))


def _interrupted(layout: run_result.OutputLayout,
                 pipeline_name: str) -> Interrupted:
  """Removes the output folders of the newest run's running components.

  A component writes its outputs under `<pipeline_root>/<component>/<key>/
  <execution id>/` before ML Metadata records them. Its execution stays
  "running" there, and a later run never reuses it from its cache; without
  its folders nothing can read a partial output either.
  """
  try:
    running = [r for r in run_result.read_run(
        layout.output_dir, pipeline_name).components if r.state == "running"]
  except run_result.NoRunError:
    return Interrupted([], [])
  removed = []
  for component in running:
    folder = os.path.join(layout.pipeline_root, component.component)
    execution = str(component.execution_id)
    for path in [*glob.glob(os.path.join(folder, "*", execution)),
                 os.path.join(folder, ".system", "executor_execution",
                              execution)]:
      if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
  logging.warning("interrupted: removed the partial outputs of %s: %s",
                  ", ".join(r.component for r in running) or "nothing",
                  ", ".join(removed) or "none")
  return Interrupted([r.component for r in running], removed)


def run(config: config_lib.PipelineConfig, logs_dir: str, output_dir: str,
        beam_pipeline_args: Optional[Sequence[str]] = None,
        enable_cache: bool = True) -> run_result.RunResult:
  """Runs the pipeline locally; a second run reuses unchanged results.

  Args:
    config: every setting of the run (including where it stops).
    logs_dir: raw logs.
    output_dir: pipeline root, ML Metadata (SQLite) and serving directory go
      under it (see run_result.OutputLayout).
    beam_pipeline_args: Beam options (see beam_options.beam_args); default
      DirectRunner with worker processes.
    enable_cache: reuse the results of unchanged components.

  Returns:
    The run as ML Metadata recorded it: each component's state, duration
    and output artifacts.

  Raises:
    OutputDirError: `output_dir` cannot be written, before any work.
    LogSchemaError: a schema fault in the logs, before anything runs or is
      written.
    Interrupted: Ctrl-C (KeyboardInterrupt) during the run; the running
      components' partial outputs are removed first.
  """
  outputs.check_writable(output_dir)
  log_files.checked_table_files(log_files.LogFiles(logs_dir))
  layout = run_result.OutputLayout(os.path.abspath(output_dir))
  os.makedirs(layout.output_dir, exist_ok=True)
  beam_direct.use_size_based_runner_flush()
  local_packaging.skip_tfx_packaging()
  pipeline = pipeline_lib.create_pipeline(
      config, logs_dir=os.path.abspath(logs_dir),
      pipeline_root=layout.pipeline_root, serving_dir=layout.serving_dir,
      beam_pipeline_args=list(beam_options.beam_args()
                              if beam_pipeline_args is None
                              else beam_pipeline_args),
      metadata_connection_config=(
          metadata.sqlite_metadata_connection_config(layout.metadata_path)),
      enable_cache=enable_cache)
  start = time.time()
  logging.info("running pipeline %s up to %s: logs %s -> %s",
               config.pipeline_name, config.stop_after, logs_dir,
               layout.output_dir)
  try:
    tfx.orchestration.LocalDagRunner().run(pipeline)
  except KeyboardInterrupt:
    raise _interrupted(layout, config.pipeline_name) from None
  result = run_result.read_run(layout.output_dir, config.pipeline_name)
  logging.info("pipeline finished in %.1fs\n%s", time.time() - start,
               run_result.format_runs(result.components,
                                      time.time() - start))
  return result
