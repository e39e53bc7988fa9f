"""Training the coarse ranker outside any entry point: input, count tables, the fit that keeps the best checkpoint, the training summary.

The Trainer's run_fn (trainer.py) and the Tuner's trials (tuner.py) both
train through `fit`; trainer.py reads the Tuner's best values through
tuner.py, which imports only this module: no cycle.
"""

import json
import logging
import os
from typing import Callable, Dict, List, Optional

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer import fn_args_utils
from tfx_bsl.public import tfxio

from models import best_checkpoint
from models import catalog
from models import features as f
from models import hparams as hparams_lib
from models import model as model_lib
from models import ordered_input
from models.layers import match
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


def _one_pass(pattern: str, data_accessor: fn_args_utils.DataAccessor,
              tf_transform_output: tft.TFTransformOutput
              ) -> tf.data.Dataset:
  """One unshuffled pass over a split's transformed examples."""
  return input_fn([pattern], data_accessor, tf_transform_output,
                  batch_size=1024, shuffle=False, num_epochs=1)


def read_catalog(train_files: List[str],
                 data_accessor: fn_args_utils.DataAccessor,
                 tf_transform_output: tft.TFTransformOutput
                 ) -> catalog.Catalog:
  """The transformed catalog split beside the train split (catalog.py)."""
  return catalog.read_catalog(_one_pass(
      catalog.split_pattern(train_files[0]), data_accessor,
      tf_transform_output))


def match_tables(train_files: List[str],
                 data_accessor: fn_args_utils.DataAccessor,
                 tf_transform_output: tft.TFTransformOutput,
                 items: catalog.Catalog) -> match.MatchTables:
  """The head's counts over the train split (layers/match.py), with the
  catalog's attributes per item id."""
  size = lambda key: int(
      tf_transform_output.num_buckets_for_transformed_feature(
          f.transformed_name(key)))
  xf = lambda key: items.features[f.transformed_name(key)]
  attributes = match.item_attributes(
      xf(f.ITEM_ID), xf(f.CATEGORY), xf(f.BRAND), xf(f.LOG_PRICE),
      size(f.ITEM_ID), catalog.num_oov_buckets(tf_transform_output))
  keys = [f.transformed_name(k) for k in (
      f.QUERY_TOKENS, f.CATEGORY, f.BRAND, f.LABEL_CLICK, f.MASK)]
  batches = ({k: batch[k].numpy() for k in keys} for batch in _one_pass(
      train_files[0], data_accessor, tf_transform_output))
  return match.count_tables(
      batches, size(f.QUERY_TOKENS), size(f.CATEGORY), size(f.BRAND),
      tf_transform_output.vocabulary_size_by_name(f.CATEGORY_VOCAB),
      tf_transform_output.vocabulary_size_by_name(f.BRAND_VOCAB),
      attributes)


def head_tables(train_files: List[str],
                data_accessor: fn_args_utils.DataAccessor,
                tf_transform_output: tft.TFTransformOutput,
                hparams: hparams_lib.HParams,
                items: Optional[catalog.Catalog] = None
                ) -> Optional[match.MatchTables]:
  """The match head's count tables when `hparams.match_head`, else None;
  `items` is the catalog if already read."""
  if not hparams.match_head:
    return None
  if items is None:
    items = read_catalog(train_files, data_accessor, tf_transform_output)
  return match_tables(train_files, data_accessor, tf_transform_output, items)


def build_model(tf_transform_output: tft.TFTransformOutput,
                hparams: hparams_lib.HParams,
                tables: Optional[match.MatchTables] = None
                ) -> model_lib.CoarseRankingModel:
  model = model_lib.CoarseRankingModel(
      towers.VocabSizes.from_transform_output(tf_transform_output), hparams,
      tables)
  model.compile(optimizer=tf.keras.optimizers.Adam(hparams.learning_rate))
  return model


BuildFn = Callable[[tft.TFTransformOutput, hparams_lib.HParams,
                    Optional[match.MatchTables]], tf.keras.Model]

# Written to the Trainer's model_run directory: the chosen checkpoint, its
# losses on `eval_steps` batches of the train and validation splits, and the
# validation loss at every checkpoint.
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


def transform_dir(fn_args: fn_args_utils.FnArgs) -> str:
  """The Transform graph's folder (the Tuner names it transform_graph_path)."""
  return fn_args.transform_output or fn_args.transform_graph_path


def _checkpoint_callbacks(fn_args: fn_args_utils.FnArgs,
                          tf_transform_output: tft.TFTransformOutput,
                          hparams: hparams_lib.HParams, steps: int):
  """(what chooses the checkpoint, the callbacks that measure and keep it).

  "candidate_hitrate" reads the transformed validation candidate sets
  beside the train split; without any, the validation loss chooses.
  """
  metric = hparams.checkpoint_metric
  callbacks = []
  if metric == hparams_lib.CANDIDATE_HITRATE:
    pattern = catalog.split_pattern(fn_args.train_files[0],
                                    f.VALID_CANDIDATES_SPLIT)
    if tf.io.gfile.glob(pattern):
      cutoff = (fn_args.custom_config or {}).get(
          hparams_lib.CHECKPOINT_CUTOFF_KEY,
          hparams_lib.DEFAULT_CHECKPOINT_CUTOFF)
      callbacks.append(best_checkpoint.CandidateHitrate(
          lambda: _one_pass(pattern, fn_args.data_accessor,
                            tf_transform_output), cutoff))
      monitor = best_checkpoint.CANDIDATE_HITRATE_LOG
    else:
      logging.warning("no validation candidate sets at %s: the validation "
                      "loss chooses the checkpoint", pattern)
      metric, monitor = "loss", "val_loss"
  else:
    monitor = f"val_{metric}"
  best = best_checkpoint.BestCheckpoint(steps, monitor=monitor)
  return metric, best, callbacks + [best]


def fit(fn_args: fn_args_utils.FnArgs, build_fn: BuildFn,
        hparams: hparams_lib.HParams, callbacks=(),
        items: Optional[catalog.Catalog] = None):
  """Trains `build_fn`'s model; keeps the checkpoint `hparams` chooses.

  Deterministic: the same examples, settings and seed give the same model.
  The batches come in an order set by the examples and the seed alone
  (ordered_input.py), weights start from the seed, and TensorFlow's ops run
  deterministically.

  Returns:
    (model with the best checkpoint's weights, training summary).
  """
  tf.keras.utils.set_random_seed(hparams.seed)
  tf.config.experimental.enable_op_determinism()
  tf_transform_output = tft.TFTransformOutput(transform_dir(fn_args))
  tables = head_tables(fn_args.train_files, fn_args.data_accessor,
                       tf_transform_output, hparams, items)
  train = ordered_input.dataset(fn_args.train_files, tf_transform_output,
                                hparams.batch_size, shuffle=True,
                                seed=hparams.seed)
  evaluation = ordered_input.dataset(fn_args.eval_files, tf_transform_output,
                                     hparams.batch_size, shuffle=False,
                                     seed=hparams.seed)
  model = build_fn(tf_transform_output, hparams, tables)
  checkpoints = min(hparams.checkpoints, fn_args.train_steps)
  steps = fn_args.train_steps // checkpoints
  metric, best, choosing = _checkpoint_callbacks(
      fn_args, tf_transform_output, hparams, steps)
  model.fit(train, epochs=checkpoints, steps_per_epoch=steps,
            validation_data=evaluation, validation_steps=fn_args.eval_steps,
            callbacks=[*choosing, *callbacks],
            verbose=0)  # The losses are logged below and in TensorBoard.
  last = {"last_train_loss": _loss(model, train, fn_args.eval_steps),
          "last_val_loss": _loss(model, evaluation, fn_args.eval_steps)}
  best.restore()
  tower_weight = best.best_logs.get(best_checkpoint.TOWER_WEIGHT_LOG)
  if tower_weight is not None and getattr(model, "head", None) is not None:
    model.head.tower_weight.assign(tower_weight)
  summary = {"train_steps": steps * checkpoints,
             "chosen_step": best.best_step,
             "checkpoint_metric": metric,
             "checkpoint_value": best.best_value,
             "tower_weight": tower_weight,
             "train_loss": _loss(model, train, fn_args.eval_steps),
             "val_loss": _loss(model, evaluation, fn_args.eval_steps),
             **last, "by_step": best.history}
  logging.info("kept the checkpoint of step %d of %d by validation %s "
               "(%.4f%s; validation loss %.4f there, %.4f at the end)",
               best.best_step, summary["train_steps"], metric,
               best.best_value,
               "" if tower_weight is None else
               f", the towers' score weighted {tower_weight:g}",
               summary["val_loss"], last["last_val_loss"])
  return model, summary


def local_data_accessor() -> fn_args_utils.DataAccessor:
  """A DataAccessor over gzipped TFRecord files, for use outside TFX."""

  def factory(file_pattern, options, schema):
    return tfxio.TFExampleRecord(file_pattern, schema=schema
                                 ).TensorFlowDataset(options)

  return fn_args_utils.DataAccessor(tf_dataset_factory=factory,
                                    record_batch_factory=None,
                                    data_view_decode_fn=None)
