"""The TFX Trainer entry points: run_fn trains the coarse ranker (training.fit) and exports its SavedModel; baseline_run_fn the same for the TFRS baseline."""

import dataclasses
import logging

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer import fn_args_utils

from models import baseline
from models import hparams as hparams_lib
from models import serving
from models import training
from models import tuner


def hparams_of(fn_args: fn_args_utils.FnArgs) -> hparams_lib.HParams:
  """HParams of `custom_config`, with the Tuner's best values on top."""
  hparams = hparams_lib.HParams.from_custom_config(fn_args.custom_config)
  tuned = getattr(fn_args, "hyperparameters", None)
  if tuned:
    hparams = tuner.apply(hparams, tuner.values_of(tuned))
  return hparams


def train_and_export(fn_args: fn_args_utils.FnArgs,
                     build_fn: training.BuildFn, head: bool = True) -> None:
  """Trains the model `build_fn` returns and exports its serving model.

  Hyperparameters come from `custom_config` (see hparams.HParams) and, when
  the pipeline tunes, the Tuner's best values; TensorBoard logs and the
  training summary go to `model_run_dir`, the SavedModel to
  `serving_model_dir`. The model needs `query_tower`, `item_tower` and
  `temperature` for the export. `head` False trains without the match head
  whatever `hparams.match_head` says (a model that has none).
  """
  hparams = hparams_of(fn_args)
  if not head:
    hparams = dataclasses.replace(hparams, match_head=False)
  logging.info("training with %s", hparams)
  tf_transform_output = tft.TFTransformOutput(
      training.transform_dir(fn_args))
  items = training.read_catalog(fn_args.train_files, fn_args.data_accessor,
                                tf_transform_output)
  model, summary = training.fit(fn_args, build_fn, hparams, [
      tf.keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir,
                                     update_freq=50)], items=items)
  training.write_training_summary(
      fn_args.model_run_dir,
      {**summary, "hparams": dataclasses.asdict(hparams)})
  logging.info("exporting with %d catalog items", len(items))
  serving.export(model, tf_transform_output, hparams, items,
                 fn_args.serving_model_dir)


def run_fn(fn_args: fn_args_utils.FnArgs) -> None:
  """The TFX Trainer entry point of the coarse ranker."""
  train_and_export(fn_args, training.build_model)


def baseline_run_fn(fn_args: fn_args_utils.FnArgs) -> None:
  """The TFX Trainer entry point of the TFRS retrieval baseline.

  Trains models/baseline.py's click-pair in-batch softmax with the same
  hyperparameters, data and budget, and exports the same signatures.
  """
  train_and_export(fn_args, baseline.build_baseline, head=False)
