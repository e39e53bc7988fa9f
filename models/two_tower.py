"""The two-tower base of the coarse ranker and the baseline: towers and the score <q, i> / temperature."""

import tensorflow as tf
import tensorflow_recommenders as tfrs

from models import hparams as hparams_lib
from models.layers import towers


def scores(queries: tf.Tensor, items: tf.Tensor,
           temperature: float) -> tf.Tensor:
  """<q, i> / temperature of each query with its list's items.

  Args:
    queries: `[batch, dim]` query embeddings.
    items: `[batch, list_size, dim]` item embeddings.
    temperature: the softmax temperature the scores are divided by.

  Returns:
    `[batch, list_size]` scores.
  """
  return tf.einsum("bd,bnd->bn", queries, items) / temperature


class TwoTowerModel(tfrs.Model):
  """The query and item towers of `towers.build_towers` and their score.

  Subclasses add the task and the loss.
  """

  def __init__(self, vocab: towers.VocabSizes, hparams: hparams_lib.HParams):
    super().__init__()
    self.query_tower, self.item_tower = towers.build_towers(vocab, hparams)
    self.temperature = hparams.temperature

  def score(self, queries: tf.Tensor, items: tf.Tensor) -> tf.Tensor:
    """`[batch, dim]` x `[batch, list_size, dim]` -> `[batch, list_size]`."""
    return scores(queries, items, self.temperature)
