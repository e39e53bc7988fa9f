"""The query tower and the item tower of the two-tower coarse ranker."""

import dataclasses
from typing import Dict, Mapping, Tuple

import tensorflow as tf

from models import features as f
from models.layers import pooling

# Profile integers (Transform output: raw + 1, 0 unknown) are folded into
# this many embedding rows.
PROFILE_BUCKETS = 32
# Raw features of each tower (each used as its transformed ids).
QUERY_FEATURES = (f.USER_ID, f.GENDER, f.AGE_BUCKET, f.PURCHASE_POWER,
                  f.QUERY_TOKENS, f.USER_HISTORY)
ITEM_FEATURES = (f.ITEM_ID, f.CATEGORY, f.BRAND, f.PRICE_BUCKET,
                 f.EXPOSURE_BUCKET, f.CTR_BUCKET, f.CVR_BUCKET)
# Numeric features of the item tower (float), fed to its first layer as is.
ITEM_DENSE_FEATURES = (f.EXPOSURE_SCORE, f.CTR_SCORE, f.CVR_SCORE,
                       f.SALES_SCORE)


@dataclasses.dataclass(frozen=True)
class VocabSizes:
  """Id-space size of each transformed id feature (pad + OOV + known)."""
  users: int
  genders: int
  query_tokens: int
  items: int
  categories: int
  brands: int
  price_buckets: int
  exposure_buckets: int
  ctr_buckets: int
  cvr_buckets: int

  @classmethod
  def from_transform_output(cls, tf_transform_output) -> "VocabSizes":
    size = lambda key: int(
        tf_transform_output.num_buckets_for_transformed_feature(
            f.transformed_name(key)))
    return cls(users=size(f.USER_ID), genders=size(f.GENDER),
               query_tokens=size(f.QUERY_TOKENS), items=size(f.ITEM_ID),
               categories=size(f.CATEGORY), brands=size(f.BRAND),
               price_buckets=size(f.PRICE_BUCKET),
               exposure_buckets=size(f.EXPOSURE_BUCKET),
               ctr_buckets=size(f.CTR_BUCKET), cvr_buckets=size(f.CVR_BUCKET))


def _xf(inputs: Mapping[str, tf.Tensor], key: str) -> tf.Tensor:
  return inputs[f.transformed_name(key)]


def _scalar(x: tf.Tensor) -> tf.Tensor:
  """`[batch]` or `[batch, 1]` -> `[batch]`."""
  return tf.reshape(x, [-1])


def _mlp(hidden_dim: int, embedding_dim: int, dropout: float,
         name: str) -> tf.keras.Sequential:
  return tf.keras.Sequential([
      tf.keras.layers.Dense(hidden_dim, activation="relu"),
      tf.keras.layers.Dropout(dropout),
      tf.keras.layers.Dense(embedding_dim),
  ], name=name)


def _normalized(x: tf.Tensor) -> tf.Tensor:
  """L2-normalised over the last axis, for inputs of any rank."""
  return tf.math.l2_normalize(x, axis=-1)


class _Tower(tf.keras.layers.Layer):
  """Shared by both towers: embedding tables, an MLP, L2-normalised output.

  `embedding_l2` adds l2 * Σ w² of every embedding table to the model's
  regularization loss; `dropout` drops the MLP's hidden units in training;
  `id_dropout` replaces the tower's own id (user or item) by the padding id
  with that probability in training.
  """

  def __init__(self, vocab: Dict[str, int], feature_dim: int, hidden_dim: int,
               embedding_dim: int, mlp_name: str, *, embedding_l2: float,
               dropout: float, id_dropout: float, **kwargs):
    super().__init__(**kwargs)
    self._config = dict(vocab=dict(vocab), feature_dim=feature_dim,
                        hidden_dim=hidden_dim, embedding_dim=embedding_dim,
                        embedding_l2=embedding_l2, dropout=dropout,
                        id_dropout=id_dropout)
    self._id_dropout = id_dropout
    self._feature_dim = feature_dim
    self._regularizer = (tf.keras.regularizers.l2(embedding_l2)
                         if embedding_l2 > 0 else None)
    self.mlp = _mlp(hidden_dim, embedding_dim, dropout, mlp_name)

  def _embedding(self, rows: int, name: str) -> tf.keras.layers.Embedding:
    return tf.keras.layers.Embedding(
        rows, self._feature_dim, embeddings_regularizer=self._regularizer,
        name=name)

  def _dropped(self, ids: tf.Tensor, training: bool) -> tf.Tensor:
    """`ids` with each replaced by PAD_ID with probability id_dropout in
    training."""
    if not training or not self._id_dropout:
      return ids
    keep = tf.random.uniform(tf.shape(ids)) >= self._id_dropout
    return tf.where(keep, ids, tf.constant(f.PAD_ID, ids.dtype))

  def _output(self, parts, training: bool) -> tf.Tensor:
    """Concatenated feature embeddings -> L2-normalised tower output."""
    return _normalized(self.mlp(tf.concat(parts, axis=-1),
                                training=training))

  def get_config(self):
    return {**super().get_config(), **self._config}


@tf.keras.utils.register_keras_serializable(package="coarse_rank")
class QueryTower(_Tower):
  """Embeds a request: user id, profile, query tokens, pooled history.

  Call args:
    inputs: transformed features: `user_id`, `gender`, `age_bucket`,
      `purchase_power` `[batch]` (or `[batch, 1]`), `query_tokens`
      `[batch, num_tokens]`, `user_history` `[batch, history_length]`.
    training: whether dropout is on.

  Returns:
    L2-normalised query embeddings `[batch, embedding_dim]`.
  """

  def __init__(self, vocab: Dict[str, int], *, feature_dim: int,
               hidden_dim: int, embedding_dim: int, **kwargs):
    super().__init__(vocab, feature_dim, hidden_dim, embedding_dim,
                     "query_mlp", **kwargs)
    emb = self._embedding
    self.user = emb(vocab["users"], "user")
    self.gender = emb(vocab["genders"], "gender")
    self.age = emb(PROFILE_BUCKETS, "age_bucket")
    self.power = emb(PROFILE_BUCKETS, "purchase_power")
    self.token = emb(vocab["query_tokens"], "query_token")
    self.history = emb(vocab["items"], "history_item")
    self.pool = pooling.MaskedMeanPooling()

  def call(self, inputs: Mapping[str, tf.Tensor],
           training: bool = False) -> tf.Tensor:
    tokens = _xf(inputs, f.QUERY_TOKENS)
    history = _xf(inputs, f.USER_HISTORY)
    parts = [
        self.user(self._dropped(_scalar(_xf(inputs, f.USER_ID)), training)),
        self.gender(_scalar(_xf(inputs, f.GENDER))),
        self.age(tf.math.floormod(_scalar(_xf(inputs, f.AGE_BUCKET)),
                                  PROFILE_BUCKETS)),
        self.power(tf.math.floormod(_scalar(_xf(inputs, f.PURCHASE_POWER)),
                                    PROFILE_BUCKETS)),
        self.pool(self.token(tokens), tokens),
        self.pool(self.history(history), history),
    ]
    return self._output(parts, training)


# The item tower's small tables: transformed feature -> VocabSizes field.
_ITEM_ATTRIBUTE_SIZES = {
    f.CATEGORY: "categories", f.BRAND: "brands",
    f.PRICE_BUCKET: "price_buckets", f.EXPOSURE_BUCKET: "exposure_buckets",
    f.CTR_BUCKET: "ctr_buckets", f.CVR_BUCKET: "cvr_buckets",
}


@tf.keras.utils.register_keras_serializable(package="coarse_rank")
class ItemTower(_Tower):
  """Embeds items: item id, category, brand, price bucket and the item's
  statistics (buckets of log exposures, CTR and CVR, and the same as
  numbers).

  The output is the MLP's over the concatenated feature embeddings and
  numeric features, with the first layer split by feature:
  concat(e_1, ..., e_n, x) W = sum_k e_k W_k + x W_x. The products of the
  small attribute tables are taken for whole tables and their rows gathered,
  so the per-item matmul sees only the item-id embedding and the attribute
  tables get dense gradients.

  Call args:
    inputs: the transformed ITEM_FEATURES (int ids) and ITEM_DENSE_FEATURES
      (float) of any common shape, e.g. `[batch, list_size]`.
    training: whether dropout is on.

  Returns:
    L2-normalised item embeddings `[..., embedding_dim]`.
  """

  def __init__(self, vocab: Dict[str, int], *, feature_dim: int,
               hidden_dim: int, embedding_dim: int, **kwargs):
    super().__init__(vocab, feature_dim, hidden_dim, embedding_dim,
                     "item_mlp", **kwargs)
    self.item = self._embedding(vocab["items"], "item")
    self.attributes = {key: self._embedding(vocab[size], key)
                       for key, size in _ITEM_ATTRIBUTE_SIZES.items()}

  def build(self, input_shape):
    for table in (self.item, *self.attributes.values()):
      table.build(None)
    self.mlp.build((None, len(ITEM_FEATURES) * self._feature_dim
                    + len(ITEM_DENSE_FEATURES)))
    super().build(input_shape)

  def call(self, inputs: Mapping[str, tf.Tensor],
           training: bool = False) -> tf.Tensor:
    ids = _xf(inputs, f.ITEM_ID)
    flat = lambda key: tf.reshape(_xf(inputs, key), [-1])
    hidden, dropout, output = self.mlp.layers
    sizes = [self._feature_dim] * len(ITEM_FEATURES) + [
        len(ITEM_DENSE_FEATURES)]
    *parts, dense_kernel = tf.split(hidden.kernel, sizes)
    kernels = dict(zip(ITEM_FEATURES, parts))
    dense = tf.stack([tf.cast(flat(key), hidden.kernel.dtype)
                      for key in ITEM_DENSE_FEATURES], axis=1)
    pre_activation = (tf.matmul(self.item(self._dropped(flat(f.ITEM_ID),
                                                        training)),
                                kernels[f.ITEM_ID])
                      + tf.matmul(dense, dense_kernel))
    for key, table in self.attributes.items():
      pre_activation += tf.gather(tf.matmul(table.embeddings, kernels[key]),
                                  flat(key))
    activation = dropout(hidden.activation(tf.nn.bias_add(pre_activation,
                                                          hidden.bias)),
                         training=training)
    embeddings = _normalized(output(activation))
    return tf.reshape(embeddings,
                      tf.concat([tf.shape(ids), [output.units]], axis=0))


def build_towers(vocab: VocabSizes, hparams) -> Tuple[QueryTower, ItemTower]:
  """The query and item towers sized by `vocab` and `hparams` (HParams)."""
  dims = dict(feature_dim=hparams.feature_dim, hidden_dim=hparams.hidden_dim,
              embedding_dim=hparams.embedding_dim,
              embedding_l2=hparams.embedding_l2, dropout=hparams.dropout,
              id_dropout=hparams.id_dropout)
  sizes = dataclasses.asdict(vocab)
  return QueryTower(sizes, **dims), ItemTower(sizes, **dims)
