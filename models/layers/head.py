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

  Call args:
    features: float `[..., num_features]`.

  Returns:
    float `[...]`.
  """

  def __init__(self, hidden_dim: int = 32, **kwargs):
    super().__init__(**kwargs)
    self.hidden_dim = hidden_dim
    self.linear = tf.keras.layers.Dense(1, name="linear")
    self.hidden = tf.keras.layers.Dense(hidden_dim, activation="relu",
                                        name="hidden")
    self.output_layer = tf.keras.layers.Dense(1, use_bias=False,
                                              name="output")
    self.tower_weight = tf.Variable(1.0, trainable=False,
                                    name="tower_weight")

  def call(self, features: tf.Tensor) -> tf.Tensor:
    score = self.linear(features) + self.output_layer(self.hidden(features))
    return tf.squeeze(score, axis=-1)

  def combine(self, two_tower: tf.Tensor, head: tf.Tensor) -> tf.Tensor:
    """tower_weight * two_tower + head, e.g. `[batch, num]` each."""
    return self.tower_weight * two_tower + head

  def get_config(self):
    return {**super().get_config(), "hidden_dim": self.hidden_dim}
