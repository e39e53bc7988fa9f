"""create_pipeline: wires the coarse-ranking TFX pipeline, from raw logs to a pushed, blessed model."""

import dataclasses
import os
from typing import List, Optional, Sequence

from tfx import v1 as tfx

from components.listwise import component as listwise_component
from components.listwise import params as params_lib
from components.push import component as push_component
from components.schema import component as schema_component
from components.validation import component as validation_component
from models import hparams as hparams_lib
from models import preprocessing
from serving import config as serving_config

RUN_FN = "models.trainer.run_fn"
PREPROCESSING_FN = "models.preprocessing.preprocessing_fn"
DEFAULT_MODEL_NAME = serving_config.DEFAULT_MODEL_NAME
DEFAULT_PIPELINE_NAME = "coarse-rank"


@dataclasses.dataclass(frozen=True)
class ValidationConfig:
  """Blessing thresholds (DESIGN section 6).

  Attributes:
    k_main: K of the hitrate that decides the blessing.
    ks: every K reported and plotted.
    threshold: minimum global hitrate@k_main.
    tolerance: allowed drop below the last blessed model's value.
    head_share: share of most-exposed candidate items counted as head.
  """
  k_main: int = 100
  ks: Sequence[int] = (10, 50, 100, 200, 500, 1000)
  threshold: float = 0.2
  tolerance: float = 0.01
  head_share: float = 0.2


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    logs_dir: str,
    serving_dir: str,
    model_name: str = DEFAULT_MODEL_NAME,
    listwise_params: params_lib.ListwiseParams = params_lib.ListwiseParams(),
    preprocessing_config: preprocessing.PreprocessingConfig = (
        preprocessing.PreprocessingConfig()),
    hparams: hparams_lib.HParams = hparams_lib.HParams(),
    train_steps: int = 2000,
    eval_steps: int = 20,
    validation: ValidationConfig = ValidationConfig(),
    beam_pipeline_args: Optional[List[str]] = None,
    metadata_connection_config=None,
    enable_cache: bool = True,
) -> tfx.dsl.Pipeline:
  """The pipeline: listwise examples, schema, Transform, Trainer, the last
  blessed model, hitrate validation, Pusher and the serving config.

  Args:
    pipeline_name: name of the pipeline (and of its ML Metadata context).
    pipeline_root: where artifacts are written (local path or URI).
    logs_dir: the raw logs directory (DESIGN section 3).
    serving_dir: the TF Serving directory; blessed models are pushed to
      `<serving_dir>/<model_name>/<version>` and `models.config` is kept
      there.
    model_name: the served model's name.
    listwise_params: how lists are built.
    preprocessing_config: Transform settings.
    hparams: model and training hyperparameters.
    train_steps: Trainer steps.
    eval_steps: Trainer evaluation steps.
    validation: blessing thresholds.
    beam_pipeline_args: Beam options for the Beam-based components.
    metadata_connection_config: ML Metadata connection (runners set it).
    enable_cache: reuse the results of unchanged components.
  """
  examples = listwise_component.ListwiseExampleGen(
      logs_dir=logs_dir, params=listwise_params)
  schema = schema_component.ListwiseSchemaGen(
      list_size=listwise_params.list_size,
      history_length=listwise_params.history_length)
  transform = tfx.components.Transform(
      examples=examples.outputs["examples"],
      schema=schema.outputs["schema"],
      preprocessing_fn=PREPROCESSING_FN,
      custom_config=dataclasses.asdict(preprocessing_config))
  trainer = tfx.components.Trainer(
      run_fn=RUN_FN,
      examples=transform.outputs["transformed_examples"],
      transform_graph=transform.outputs["transform_graph"],
      schema=schema.outputs["schema"],
      train_args=tfx.proto.TrainArgs(num_steps=train_steps),
      eval_args=tfx.proto.EvalArgs(num_steps=eval_steps),
      custom_config=hparams.to_custom_config())
  last_blessed = tfx.dsl.Resolver(
      strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
      model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
      model_blessing=tfx.dsl.Channel(
          type=tfx.types.standard_artifacts.ModelBlessing),
  ).with_id("last_blessed_model")
  validator = validation_component.HitrateValidator(
      model=trainer.outputs["model"],
      eval_candidates=examples.outputs["eval_candidates"],
      examples=examples.outputs["examples"],
      baseline_model=last_blessed.outputs["model"],
      k_main=validation.k_main, ks=validation.ks,
      threshold=validation.threshold, tolerance=validation.tolerance,
      head_share=validation.head_share)
  pusher = tfx.components.Pusher(
      model=trainer.outputs["model"],
      model_blessing=validator.outputs["blessing"],
      push_destination=tfx.proto.PushDestination(
          filesystem=tfx.proto.PushDestination.Filesystem(
              base_directory=os.path.join(serving_dir, model_name))))
  models_config = push_component.UpdateModelsConfig(
      pushed_model=pusher.outputs["pushed_model"], serving_dir=serving_dir)
  return tfx.dsl.Pipeline(
      pipeline_name=pipeline_name,
      pipeline_root=pipeline_root,
      components=[examples, schema, transform, trainer, last_blessed,
                  validator, pusher, models_config],
      enable_cache=enable_cache,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=beam_pipeline_args or [])
