"""Logs through ListwiseExampleGen and Transform on LocalDagRunner, for tests, benchmarks and ablations."""

import dataclasses
import glob
import os

from tfx import v1 as tfx

from components.listwise import component as listwise_component
from components.listwise import params as params_lib
from components.schema import component as schema_component
from tfx_pipeline import pipeline as pipeline_lib
from tfx_pipeline.synthetic import config as config_lib
from tfx_pipeline.synthetic import write


@dataclasses.dataclass(frozen=True)
class TransformedWorld:
  """Where the run wrote: file patterns of the splits and the graph."""
  root: str
  train: str  # transformed train split, a file pattern.
  eval: str  # transformed eval split, a file pattern.
  graph: str  # the Transform graph (TFTransformOutput directory).
  eval_sets: str  # eval candidate sets, a file pattern.
  examples_eval: str  # untransformed eval split directory.
  eval_sets_dir: str  # eval candidate sets split directory.


def transform_world(root: str, world: config_lib.WorldConfig,
                    params: params_lib.ListwiseParams = (
                        params_lib.ListwiseParams())) -> TransformedWorld:
  """Generates `world` under `root` and runs examples -> schema -> Transform."""
  logs = os.path.join(root, "logs")
  write.write_logs(logs, world, overwrite=True)
  return transform_logs(root, logs, params)


def transform_logs(root: str, logs: str,
                   params: params_lib.ListwiseParams = (
                       params_lib.ListwiseParams())) -> TransformedWorld:
  """Runs examples -> schema -> Transform on `logs`, writing under `root`."""
  examples = listwise_component.ListwiseExampleGen(logs_dir=logs,
                                                   params=params)
  schema = schema_component.ListwiseSchemaGen(
      list_size=params.list_size, history_length=params.history_length)
  transform = tfx.components.Transform(
      examples=examples.outputs["examples"], schema=schema.outputs["schema"],
      preprocessing_fn=pipeline_lib.PREPROCESSING_FN)
  pipeline_root = os.path.join(root, "pipeline")
  tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
      pipeline_name="transformed-world", pipeline_root=pipeline_root,
      components=[examples, schema, transform],
      metadata_connection_config=(
          tfx.orchestration.metadata.sqlite_metadata_connection_config(
              os.path.join(root, "metadata.sqlite")))))

  def newest(*parts):
    found = glob.glob(os.path.join(pipeline_root, *parts))
    return max(found, key=lambda p: int(os.path.basename(p)))

  transformed = newest("Transform", "transformed_examples", "*")
  eval_sets = os.path.join(newest("ListwiseExampleGen", "eval_candidates",
                                  "*"), "Split-eval")
  return TransformedWorld(
      root=root,
      train=os.path.join(transformed, "Split-train", "*"),
      eval=os.path.join(transformed, "Split-eval", "*"),
      graph=newest("Transform", "transform_graph", "*"),
      eval_sets=os.path.join(eval_sets, "*"),
      examples_eval=os.path.join(newest("ListwiseExampleGen", "examples", "*"),
                                 "Split-eval"),
      eval_sets_dir=eval_sets)
