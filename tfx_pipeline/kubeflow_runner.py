"""Kubeflow runner: compiles create_pipeline to a KFP v2 spec with KubeflowV2DagRunner."""

import json
import os
import re
from typing import Optional, Sequence

import yaml
from tfx import v1 as tfx

from tfx_pipeline import beam_options
from tfx_pipeline import config as config_lib
from tfx_pipeline import pipeline as pipeline_lib
# Pipeline names KubeflowV2DagRunner accepts.
PIPELINE_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")
# A PipelineJob (pipelineSpec and runtimeConfig), as Vertex AI Pipelines
# submits it.
JSON_SUFFIXES = (".json",)
# A PipelineSpec alone, the format Kubeflow Pipelines uploads and runs.
YAML_SUFFIXES = (".yaml", ".yml")


class CompileError(ValueError):
  """An output file, path or pipeline name the compiled spec cannot use."""


def _check_remote_path(name: str, path: str) -> None:
  if "://" not in path and not os.path.isabs(path):
    raise CompileError(
        f"{name} {path!r} is a relative path; each step runs in its own "
        "container, so pass a URI (gs://...) or an absolute path mounted in "
        "the image")


def _check_pipeline_name(pipeline_name: str) -> None:
  if not PIPELINE_NAME_PATTERN.fullmatch(pipeline_name):
    raise CompileError(
        f"pipeline name {pipeline_name!r} must match "
        f"{PIPELINE_NAME_PATTERN.pattern} (lower case letters, digits, '-')")


def _check_output_file(output_file: str) -> None:
  if not output_file.endswith(JSON_SUFFIXES + YAML_SUFFIXES):
    raise CompileError(
        f"output file {output_file!r} must end in .json (a PipelineJob, for "
        "Vertex AI Pipelines) or .yaml (a PipelineSpec, for Kubeflow "
        "Pipelines)")
  directory = os.path.dirname(os.path.abspath(output_file))
  if not os.path.isdir(directory):
    raise CompileError(f"output directory {directory} does not exist")


def compile_pipeline(image: str, pipeline_root: str, output_file: str,
                     config: config_lib.PipelineConfig = (
                         config_lib.PipelineConfig()),
                     logs_dir: Optional[str] = None,
                     serving_dir: Optional[str] = None,
                     beam_pipeline_args: Sequence[str] = ()) -> str:
  """Writes the pipeline's KFP v2 spec to `output_file`.

  Every step runs its executor in `image` (the package installed, see the
  Dockerfile); user code is named by dotted paths, so nothing is packaged
  under the pipeline root. The spec uses pipeline spec schema 2.1, as the
  KFP 2 SDK's own compiler, and names the pipeline root as its default
  (`defaultPipelineRoot`, which TFX leaves out) and, in a PipelineJob, as
  `runtimeConfig.gcsOutputDirectory`.

  Args:
    image: the container image of every step.
    pipeline_root: where the steps write artifacts (a URI such as gs://...).
    output_file: the spec to write: `.json` a PipelineJob, `.yaml` a
      PipelineSpec. Its directory must exist.
    config: the pipeline's settings; its name must match
      `PIPELINE_NAME_PATTERN`.
    logs_dir: the raw logs; default `<pipeline_root>/logs`.
    serving_dir: where blessed models are pushed; default
      `<pipeline_root>/serving`.
    beam_pipeline_args: Beam options of the Beam-based steps, e.g. for
      Dataflow; the worker plugin (beam_options.with_plugin) goes first, as
      in local runs.

  Returns:
    `output_file`.

  Raises:
    CompileError: the output file has another suffix or its directory is
      missing, a path is relative or the pipeline name is not allowed.
  """
  _check_output_file(output_file)
  _check_pipeline_name(config.pipeline_name)
  logs_dir = logs_dir or os.path.join(pipeline_root, "logs")
  serving_dir = serving_dir or os.path.join(pipeline_root, "serving")
  for name, path in (("pipeline root", pipeline_root), ("logs dir", logs_dir),
                     ("serving dir", serving_dir)):
    _check_remote_path(name, path)
  pipeline = pipeline_lib.create_pipeline(
      config, logs_dir=logs_dir, pipeline_root=pipeline_root,
      serving_dir=serving_dir,
      beam_pipeline_args=beam_options.with_plugin(beam_pipeline_args))
  runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
      config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
          default_image=image, use_pipeline_spec_2_1=True))
  # Written here rather than by the runner, to add defaultPipelineRoot:
  # TFX's YAML (the format Kubeflow Pipelines uploads) has no pipeline root.
  job = runner.run(pipeline, write_out=False)
  job["pipelineSpec"]["defaultPipelineRoot"] = pipeline_root
  with open(output_file, "w") as f:
    if output_file.endswith(YAML_SUFFIXES):
      yaml.safe_dump(job["pipelineSpec"], f, sort_keys=True)
    else:
      json.dump(job, f, indent=2, sort_keys=True)
  return output_file
