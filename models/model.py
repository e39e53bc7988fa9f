"""The coarse ranker: a TFRS two-tower model whose compute_loss composes towers and task."""

import tensorflow as tf

from models import features as f
from models import hparams as hparams_lib
from models import two_tower
from models.layers import towers
from models.tasks import multi_objective


class CoarseRankingModel(two_tower.TwoTowerModel):
  """Two towers; score s = <q, i> / temperature; the task gives the loss."""

  # Nothing under a step branches in Python on a tensor (the towers, the
  # task, losses and metrics are this package's), so AutoGraph need not
  # rewrite their source, and Keras's, at each trace: on a 60-step Trainer
  # that rewriting was a third of the component's time. (The baseline keeps
  # AutoGraph: TFRS's Retrieval task needs it.)
  train_step = tf.autograph.experimental.do_not_convert(
      two_tower.TwoTowerModel.train_step)
  test_step = tf.autograph.experimental.do_not_convert(
      two_tower.TwoTowerModel.test_step)

  def __init__(self, vocab: towers.VocabSizes, hparams: hparams_lib.HParams):
    super().__init__(vocab, hparams)
    self.task = multi_objective.MultiObjectiveListwiseTask(
        w_exposure=hparams.w_exposure, w_click=hparams.w_click,
        w_purchase=hparams.w_purchase, w_distillation=hparams.w_distillation,
        distillation_temperature=hparams.distillation_temperature,
        label_smoothing=hparams.label_smoothing,
        distill_unexposed=hparams.distill_unexposed,
        revised_softmax=hparams.revised_softmax,
        log_q_correction=hparams.log_q_correction,
        excluded_sample_types=hparams.excluded_sample_types,
        w_in_batch=hparams.w_in_batch)

  def list_item_embeddings(self, inputs, training: bool = False
                           ) -> tf.Tensor:
    """Item embeddings of the lists, `[batch, list_size, dim]`.

    The item tower runs once per distinct combination of item features in
    the batch (items repeat across lists), then the embeddings are gathered
    back into the lists.
    """
    ids = inputs[f.transformed_name(f.ITEM_ID)]
    keys = [f.transformed_name(key) for key in towers.ITEM_FEATURES]
    dense_keys = [f.transformed_name(key)
                  for key in towers.ITEM_DENSE_FEATURES]
    flat = lambda key: tf.reshape(inputs[key], [-1])
    # Float features join the key by their bits, so equal rows are found.
    rows = tf.stack([flat(k) for k in keys] + [
        tf.cast(tf.bitcast(tf.cast(flat(k), tf.float32), tf.int32),
                tf.int64) for k in dense_keys], axis=1)
    unique, index = tf.raw_ops.UniqueV2(x=rows, axis=[0])
    columns = tf.unstack(unique, num=len(keys) + len(dense_keys), axis=1)
    features = dict(zip(keys, columns))
    features.update({k: tf.bitcast(tf.cast(c, tf.int32), tf.float32)
                     for k, c in zip(dense_keys, columns[len(keys):])})
    embeddings = tf.gather(self.item_tower(features, training=training),
                           index)
    return tf.reshape(embeddings,
                      tf.concat([tf.shape(ids), [-1]], axis=0))

  def call(self, inputs, training: bool = False) -> tf.Tensor:
    """Scores of the lists' items, `[batch, list_size]`."""
    return self.score(self.query_tower(inputs, training=training),
                      self.list_item_embeddings(inputs, training))

  def compute_loss(self, inputs, training: bool = False) -> tf.Tensor:
    queries = self.query_tower(inputs, training=training)
    items = self.list_item_embeddings(inputs, training)
    cross = None
    if self.task.w_in_batch:
      cross = tf.einsum("bd,cnd->bcn", queries, items) / self.temperature
    return self.task(inputs, self.score(queries, items), training=training,
                     cross_logits=cross)
