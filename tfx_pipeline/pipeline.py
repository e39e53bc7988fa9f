"""create_pipeline: wires the coarse-ranking TFX pipeline, from raw logs to a pushed, blessed model."""

import os
from typing import List, Optional

from tfx import v1 as tfx

from components import code_fingerprint
from components.listwise import component as listwise_component
from components.listwise import split as split_lib
from components.push import component as push_component
from components.push import pusher as pusher_lib
from components.schema import component as schema_component
from components.transform import component as transform_component
from components.validation import component as validation_component
from models import hparams as hparams_lib
from tfx_pipeline import config as config_lib


def _with_fingerprint(custom_config: dict, dotted_path: str) -> dict:
  """custom_config with the fingerprint of the code `dotted_path` runs, so
  TFX's cache reruns the component when that code changes."""
  return {**custom_config,
          code_fingerprint.KEY: code_fingerprint.fingerprint(dotted_path)}


def create_pipeline(
    config: config_lib.PipelineConfig,
    logs_dir: str,
    pipeline_root: str,
    serving_dir: str,
    beam_pipeline_args: Optional[List[str]] = None,
    metadata_connection_config=None,
    enable_cache: bool = True,
) -> tfx.dsl.Pipeline:
  """The pipeline, up to `config.stop_after`.

  ListwiseExampleGen -> ListwiseSchemaGen -> Transform -> (Tuner) ->
  Trainer -> (last blessed model) -> HitrateValidator -> Pusher ->
  UpdateModelsConfig. Transform is TFX's, its executor mending Beam's local
  data plane first (components/transform/). The Pusher is TFX's, except
  that it does not push a model again that the newest pushed version
  already holds (components/push/pusher.py).

  Args:
    config: every setting of the run.
    logs_dir: the raw logs directory (DESIGN section 3).
    pipeline_root: where artifacts are written (local path or URI).
    serving_dir: the TF Serving directory; blessed models are pushed to
      `<serving_dir>/<model_name>/<version>` and `models.config` is kept
      there.
    beam_pipeline_args: Beam options for the Beam-based components.
    metadata_connection_config: ML Metadata connection (runners set it).
    enable_cache: reuse the results of unchanged components.
  """
  examples = listwise_component.ListwiseExampleGen(
      logs_dir=logs_dir, params=config.listwise)
  components = [examples]
  if config.runs(config_lib.TRANSFORM):
    schema = schema_component.ListwiseSchemaGen(
        list_size=config.listwise.list_size,
        history_length=config.listwise.history_length)
    transform = transform_component.Transform(
        examples=examples.outputs["examples"],
        schema=schema.outputs["schema"],
        preprocessing_fn=config.preprocessing_fn,
        custom_config=_with_fingerprint(config.preprocessing.to_custom_config(),
                                        config.preprocessing_fn))
    components += [schema, transform]
  if config.runs(config_lib.TRAIN):
    hyperparameters = None
    if config.tune:
      tuner = tfx.components.Tuner(
          tuner_fn=config_lib.TUNER_FN,
          examples=transform.outputs["transformed_examples"],
          transform_graph=transform.outputs["transform_graph"],
          schema=schema.outputs["schema"],
          train_args=tfx.proto.TrainArgs(num_steps=config.tune_train_steps),
          eval_args=tfx.proto.EvalArgs(splits=[split_lib.VALID],
                                       num_steps=config.eval_steps),
          custom_config=_with_fingerprint(
              {**config.hparams.to_custom_config(),
               hparams_lib.MAX_TRIALS_KEY: config.tune_trials,
               hparams_lib.CHECKPOINT_CUTOFF_KEY: config.validation.k_main},
              config_lib.TUNER_FN))
      hyperparameters = tuner.outputs["best_hyperparameters"]
      components.append(tuner)
    trainer = tfx.components.Trainer(
        run_fn=config.run_fn,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema.outputs["schema"],
        hyperparameters=hyperparameters,
        train_args=tfx.proto.TrainArgs(num_steps=config.train_steps),
        eval_args=tfx.proto.EvalArgs(splits=[split_lib.VALID],
                                     num_steps=config.eval_steps),
        custom_config=_with_fingerprint(
            {**config.hparams.to_custom_config(),
             hparams_lib.CHECKPOINT_CUTOFF_KEY: config.validation.k_main},
            config.run_fn))
    components.append(trainer)
  if config.runs(config_lib.VALIDATE):
    validation = config.validation
    baseline_model = None
    if validation.compare_to_last_blessed:
      last_blessed = tfx.dsl.Resolver(
          strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
          model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
          model_blessing=tfx.dsl.Channel(
              type=tfx.types.standard_artifacts.ModelBlessing),
      ).with_id("last_blessed_model")
      baseline_model = last_blessed.outputs["model"]
      components.append(last_blessed)
    validator = validation_component.HitrateValidator(
        model=trainer.outputs["model"],
        eval_candidates=examples.outputs["eval_candidates"],
        examples=examples.outputs["examples"],
        baseline_model=baseline_model,
        k_main=validation.k_main, ks=validation.all_ks,
        threshold=validation.threshold, tolerance=validation.tolerance,
        head_share=validation.head_share,
        beat_yardsticks=validation.beat_yardsticks)
    components.append(validator)
  if config.runs(config_lib.PUSH):
    pusher = pusher_lib.Pusher(
        model=trainer.outputs["model"],
        model_blessing=validator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=os.path.join(serving_dir,
                                            config.model_name))))
    models_config = push_component.UpdateModelsConfig(
        pushed_model=pusher.outputs["pushed_model"], serving_dir=serving_dir)
    components += [pusher, models_config]
  return tfx.dsl.Pipeline(
      pipeline_name=config.pipeline_name,
      pipeline_root=pipeline_root,
      components=components,
      enable_cache=enable_cache,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=beam_pipeline_args or [])
