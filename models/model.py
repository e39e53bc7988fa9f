"""The coarse ranker: a TFRS two-tower model whose compute_loss composes towers and task."""

import tensorflow as tf

from models import features as f
from models import hparams as hparams_lib
from models import two_tower
from models.layers import towers
from models.tasks import multi_objective


class CoarseRankingModel(two_tower.TwoTowerModel):
  """Two towers; score s = <q, i> / temperature; the task gives the loss."""

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
        excluded_sample_types=hparams.excluded_sample_types)

  def list_item_embeddings(self, inputs) -> tf.Tensor:
    """Item embeddings of the lists, `[batch, list_size, dim]`.

    The item tower runs once per distinct item id of the batch (items repeat
    across lists, and item attributes are per item), then the embeddings are
    gathered back into the lists.
    """
    ids = inputs[f.transformed_name(f.ITEM_ID)]
    flat = tf.reshape(ids, [-1])
    unique, index = tf.unique(flat)
    first = tf.math.unsorted_segment_min(tf.range(tf.size(flat)), index,
                                         tf.size(unique))
    features = {f.transformed_name(key): tf.gather(
        tf.reshape(inputs[f.transformed_name(key)], [-1]), first)
                for key in towers.ITEM_FEATURES}
    embeddings = tf.gather(self.item_tower(features), index)
    return tf.reshape(embeddings,
                      tf.concat([tf.shape(ids), [-1]], axis=0))

  def call(self, inputs, training: bool = False) -> tf.Tensor:
    """Scores of the lists' items, `[batch, list_size]`."""
    return self.score(self.query_tower(inputs),
                      self.list_item_embeddings(inputs))

  def compute_loss(self, inputs, training: bool = False) -> tf.Tensor:
    return self.task(inputs, self(inputs, training=training),
                     training=training)
