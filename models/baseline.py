"""A plain TFRS two-tower retrieval baseline: in-batch softmax over (query, clicked item) pairs."""

from typing import Dict, Mapping, Tuple

import tensorflow as tf
import tensorflow_recommenders as tfrs
import tensorflow_transform as tft

from models import features as f
from models import hparams as hparams_lib
from models import two_tower
from models.layers import towers

# Transformed features read by the query tower and by the item tower.
QUERY_FEATURES = tuple(map(f.transformed_name, towers.QUERY_FEATURES))
ITEM_FEATURES = tuple(map(f.transformed_name, towers.ITEM_FEATURES
                          + towers.ITEM_DENSE_FEATURES))


def click_pairs(inputs: Mapping[str, tf.Tensor]
                ) -> Tuple[Dict[str, tf.Tensor], Dict[str, tf.Tensor]]:
  """The (query, clicked item) pairs of a batch of lists.

  Every valid clicked entry (`label_click == 1` and `mask == 1`) gives one
  pair: its list's query features, repeated once per click of the list, and
  the entry's item features. Lists without a click give no pair. Pairs are
  ordered by list, then by position in the list. Exposures without a click,
  unexposed and random-negative entries are not used: the in-batch softmax
  takes its negatives from the other pairs of the batch.

  Args:
    inputs: a transformed listwise batch: the QUERY_FEATURES, `[batch]` or
      `[batch, ...]`; the ITEM_FEATURES, `label_click` and `mask`,
      `[batch, list_size]`.

  Returns:
    (queries, items): QUERY_FEATURES each `[num_pairs]` or
    `[num_pairs, ...]`, ITEM_FEATURES each `[num_pairs]`.
  """
  positive = tf.logical_and(
      tf.equal(inputs[f.transformed_name(f.LABEL_CLICK)], 1),
      tf.equal(inputs[f.transformed_name(f.MASK)], 1))
  rows = tf.where(positive)[:, 0]
  queries = {k: tf.gather(inputs[k], rows) for k in QUERY_FEATURES}
  items = {k: tf.boolean_mask(inputs[k], positive) for k in ITEM_FEATURES}
  return queries, items


class RetrievalBaseline(two_tower.TwoTowerModel):
  """The coarse ranker's towers trained by `tfrs.tasks.Retrieval` on clicks.

  The loss is TFRS's default in-batch softmax: for the P click pairs of a
  batch, logits = Q I^T / temperature `[P, P]`, labels the identity,
  categorical cross-entropy summed over the pairs. Another pair's item is a
  negative even when it is the same item or comes from the same list (no
  accidental-hit removal). The temperature is the main model's, since both
  towers output L2-normalised embeddings. A batch without a click has loss 0
  (TF's softmax cross-entropy kernel crashes on `[0, 0]` logits).
  """

  def __init__(self, vocab: towers.VocabSizes, hparams: hparams_lib.HParams):
    super().__init__(vocab, hparams)
    self.task = tfrs.tasks.Retrieval(temperature=hparams.temperature)

  def call(self, inputs: Mapping[str, tf.Tensor],
           training: bool = False) -> tf.Tensor:
    """Scores `[batch, list_size]` of the lists' items, <q, i> / temperature."""
    return self.score(self.query_tower(inputs, training=training),
                      self.item_tower(inputs, training=training))

  def compute_loss(self, inputs: Mapping[str, tf.Tensor],
                   training: bool = False) -> tf.Tensor:
    queries, items = click_pairs(inputs)
    query_embeddings = self.query_tower(queries, training=training)
    item_embeddings = self.item_tower(items, training=training)
    return tf.cond(
        tf.shape(query_embeddings)[0] > 0,
        lambda: self.task(query_embeddings, item_embeddings),
        lambda: tf.constant(0.0))


def build_baseline(tf_transform_output: tft.TFTransformOutput,
                   hparams: hparams_lib.HParams,
                   tables=None) -> RetrievalBaseline:
  """The compiled baseline, with the main model's vocabularies and optimizer
  (no head: `tables` are not read)."""
  del tables
  model = RetrievalBaseline(
      towers.VocabSizes.from_transform_output(tf_transform_output), hparams)
  model.compile(optimizer=tf.keras.optimizers.Adam(hparams.learning_rate))
  return model
