"""The TFX Trainer entry point: run_fn trains the coarse ranker and exports its SavedModel."""

import json
import logging
import os
from typing import Callable, Dict, List, Tuple

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer import fn_args_utils
from tfx_bsl.public import tfxio

from models import baseline
from models import features as f
from models import hparams as hparams_lib
from models import model as model_lib
from models import serving
from models.layers import towers


def input_fn(file_pattern: List[str],
             data_accessor: fn_args_utils.DataAccessor,
             tf_transform_output: tft.TFTransformOutput, batch_size: int,
             shuffle: bool, num_epochs=None, seed: int = 0
             ) -> tf.data.Dataset:
  """Batches of transformed listwise examples as dicts of dense tensors."""
  return data_accessor.tf_dataset_factory(
      file_pattern,
      tfxio.TensorFlowDatasetOptions(batch_size=batch_size, shuffle=shuffle,
                                     num_epochs=num_epochs, shuffle_seed=seed),
      tf_transform_output.transformed_metadata.schema)


def item_attributes(dataset: tf.data.Dataset
                    ) -> Dict[int, Tuple[int, int, int]]:
  """Item id -> (category, brand, price bucket) ids seen in the lists.

  Args:
    dataset: one pass over transformed examples with `[batch, list_size]`
      item attribute features and the mask.
  """
  out: Dict[int, Tuple[int, int, int]] = {}
  for batch in dataset:
    valid = batch[f.transformed_name(f.MASK)].numpy().reshape(-1) == 1
    columns = [batch[f.transformed_name(k)].numpy().reshape(-1)[valid]
               for k in towers.ITEM_FEATURES]
    for item, category, brand, price in zip(*columns):
      out.setdefault(int(item), (int(category), int(brand), int(price)))
  return out


def build_model(tf_transform_output: tft.TFTransformOutput,
                hparams: hparams_lib.HParams) -> model_lib.CoarseRankingModel:
  model = model_lib.CoarseRankingModel(
      towers.VocabSizes.from_transform_output(tf_transform_output), hparams)
  model.compile(optimizer=tf.keras.optimizers.Adam(hparams.learning_rate))
  return model


BuildFn = Callable[[tft.TFTransformOutput, hparams_lib.HParams],
                   tf.keras.Model]

# Written to the Trainer's model_run directory: the losses at the end of
# training on `eval_steps` batches of each split.
TRAINING_SUMMARY_FILE = "training_summary.json"


def _loss(model: tf.keras.Model, data: tf.data.Dataset, steps: int) -> float:
  return float(model.evaluate(data, steps=steps, verbose=0,
                              return_dict=True)["loss"])


def write_training_summary(model_run_dir: str, summary: Dict[str, float]
                           ) -> str:
  """Writes `summary` as TRAINING_SUMMARY_FILE under model_run_dir."""
  tf.io.gfile.makedirs(model_run_dir)
  path = os.path.join(model_run_dir, TRAINING_SUMMARY_FILE)
  with tf.io.gfile.GFile(path, "w") as f:
    f.write(json.dumps(summary, indent=2, sort_keys=True))
  return path


def read_training_summary(model_run_dir: str) -> Dict[str, float]:
  with tf.io.gfile.GFile(os.path.join(model_run_dir,
                                      TRAINING_SUMMARY_FILE)) as f:
    return json.loads(f.read())


def train_and_export(fn_args: fn_args_utils.FnArgs,
                     build_fn: BuildFn) -> None:
  """Trains the model `build_fn` returns and exports its serving model.

  Hyperparameters come from `custom_config` (see hparams.HParams);
  TensorBoard logs go to `model_run_dir`, the SavedModel to
  `serving_model_dir`. The model needs `query_tower`, `item_tower` and
  `temperature` for the export.
  """
  hparams = hparams_lib.HParams.from_custom_config(fn_args.custom_config)
  logging.info("training with %s", hparams)
  tf.keras.utils.set_random_seed(hparams.seed)
  tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
  train = input_fn(fn_args.train_files, fn_args.data_accessor,
                   tf_transform_output, hparams.batch_size, shuffle=True,
                   seed=hparams.seed)
  evaluation = input_fn(fn_args.eval_files, fn_args.data_accessor,
                        tf_transform_output, hparams.batch_size,
                        shuffle=False)
  model = build_fn(tf_transform_output, hparams)
  model.fit(train, epochs=1, steps_per_epoch=fn_args.train_steps,
            validation_data=evaluation, validation_steps=fn_args.eval_steps,
            callbacks=[tf.keras.callbacks.TensorBoard(
                log_dir=fn_args.model_run_dir, update_freq=50)],
            verbose=0)  # The losses are logged below and in TensorBoard.
  summary = {"train_steps": fn_args.train_steps,
             "train_loss": _loss(model, train, fn_args.eval_steps),
             "val_loss": _loss(model, evaluation, fn_args.eval_steps)}
  logging.info("losses at the end of training: %s", summary)
  write_training_summary(fn_args.model_run_dir, summary)
  attributes = item_attributes(input_fn(
      fn_args.train_files, fn_args.data_accessor, tf_transform_output,
      batch_size=1024, shuffle=False, num_epochs=1))
  logging.info("exporting with %d catalog items", len(attributes))
  serving.export(model, tf_transform_output, hparams, attributes,
                 fn_args.serving_model_dir)


def run_fn(fn_args: fn_args_utils.FnArgs) -> None:
  """The TFX Trainer entry point of the coarse ranker."""
  train_and_export(fn_args, build_model)


def baseline_run_fn(fn_args: fn_args_utils.FnArgs) -> None:
  """The TFX Trainer entry point of the TFRS retrieval baseline.

  Trains models/baseline.py's click-pair in-batch softmax with the same
  hyperparameters, data and budget, and exports the same signatures.
  """
  train_and_export(fn_args, baseline.build_baseline)


def local_data_accessor() -> fn_args_utils.DataAccessor:
  """A DataAccessor over gzipped TFRecord files, for use outside TFX."""

  def factory(file_pattern, options, schema):
    return tfxio.TFExampleRecord(file_pattern, schema=schema
                                 ).TensorFlowDataset(options)

  return fn_args_utils.DataAccessor(tf_dataset_factory=factory,
                                    record_batch_factory=None,
                                    data_view_decode_fn=None)

