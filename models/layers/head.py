"""The score head: a small MLP over a candidate's match features and item statistics, added to the two-tower score."""

import tensorflow as tf


@tf.keras.utils.register_keras_serializable(package="coarse_rank")
class ScoreHead(tf.keras.layers.Layer):
  """head(x) = w . x + v . relu(W x + b), one score per candidate.

  The linear part lets counts that carry across logs (query-category
  lift, sales) enter the score directly; the hidden layer their
  interactions (a lift matters more for a query with support). `combine`
  adds the two towers' score, times `tower_weight`: 1 in training, then
  chosen with the checkpoint on the validation candidate sets (where ids
  are too sparse to carry, the towers' part is noise at the top of a
  candidate set, and a smaller weight ranks better).

  The features a candidate shares with the others of its request come
  apart, once per request, so none is copied to every candidate: the first
  layer is split as [c, r] W = c W_c + r W_r, the linear part and the
  hidden layer in one matrix.

  Call args:
    candidate: float `[batch, num, num_candidate_features]`.
    request: float `[batch, num_request_features]`.

  Returns:
    float `[batch, num]`.
  """

  def __init__(self, hidden_dim: int, **kwargs):
    super().__init__(**kwargs)
    self.hidden_dim = hidden_dim
    # Unit 0 is the linear part, units 1.. the hidden layer's.
    self.candidate_layer = tf.keras.layers.Dense(1 + hidden_dim,
                                                 name="candidate")
    self.request_layer = tf.keras.layers.Dense(1 + hidden_dim, use_bias=False,
                                               name="request")
    self.output_layer = tf.keras.layers.Dense(1, use_bias=False,
                                              name="output")
    self.tower_weight = tf.Variable(1.0, trainable=False,
                                    name="tower_weight")

  def call(self, candidate: tf.Tensor, request: tf.Tensor) -> tf.Tensor:
    pre = self.candidate_layer(candidate) + self.request_layer(
        request)[:, None, :]
    hidden = tf.nn.relu(pre[..., 1:])
    return pre[..., 0] + tf.squeeze(self.output_layer(hidden), axis=-1)

  def combine(self, two_tower: tf.Tensor, head: tf.Tensor) -> tf.Tensor:
    """tower_weight * two_tower + head, e.g. `[batch, num]` each."""
    return self.tower_weight * two_tower + head

  def get_config(self):
    return {**super().get_config(), "hidden_dim": self.hidden_dim}
