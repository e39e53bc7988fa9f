"""The coarse ranker: a TFRS two-tower model with a head over match features; compute_loss composes them with the task."""

from typing import Mapping, Optional, Tuple

import tensorflow as tf

from models import features as f
from models import hparams as hparams_lib
from models import two_tower
from models.layers import head as head_lib
from models.layers import match as match_lib
from models.layers import towers
from models.tasks import multi_objective

# Per-item numbers the head reads beside the match features.
HEAD_ITEM_FEATURES = towers.ITEM_DENSE_FEATURES


def task_from(hparams: hparams_lib.HParams, **overrides
              ) -> multi_objective.MultiObjectiveListwiseTask:
  """The task with every argument from `hparams` (`overrides` on top)."""
  args = dict(
      w_exposure=hparams.w_exposure, w_click=hparams.w_click,
      w_purchase=hparams.w_purchase, w_distillation=hparams.w_distillation,
      distillation_temperature=hparams.distillation_temperature,
      label_smoothing=hparams.label_smoothing,
      distill_unexposed=hparams.distill_unexposed,
      revised_softmax=hparams.revised_softmax,
      log_q_correction=hparams.log_q_correction,
      excluded_sample_types=hparams.excluded_sample_types,
      w_in_batch=hparams.w_in_batch,
      teacher_transform=hparams.teacher_transform)
  return multi_objective.MultiObjectiveListwiseTask(**{**args, **overrides})


def head_score(match: match_lib.QueryItemMatch, head: head_lib.ScoreHead,
               profiles: match_lib.Profiles, category: tf.Tensor,
               brand: tf.Tensor, log_price: tf.Tensor,
               numbers: tf.Tensor) -> tf.Tensor:
  """The head's scores of candidates given a batch of requests.

  Args:
    match, head: the model's QueryItemMatch and ScoreHead.
    profiles: the requests' `match.profiles`.
    category, brand, log_price: the candidates' transformed attributes,
      `[batch, num]` (each request's own candidates) or `[num]` (the same
      for every request).
    numbers: their HEAD_ITEM_FEATURES, `[batch, num, 4]` or `[num, 4]`.

  Returns:
    `[batch, num]`.
  """
  candidate, request = match.split_features(profiles, category, brand,
                                            log_price)
  numbers = tf.cast(numbers, tf.float32)
  numbers = tf.broadcast_to(numbers, tf.concat(
      [tf.shape(candidate)[:-1], [len(HEAD_ITEM_FEATURES)]], axis=0))
  return head(tf.concat([candidate, numbers], axis=-1), request)


def head_inputs(items: Mapping[str, tf.Tensor], where=None):
  """(category, brand, log_price, numbers) of transformed list features,
  `[batch, list_size]` each (numbers `[..., 4]`), or of the entries at
  `where` (`[num, 2]` indices), `[num]` each."""
  pick = ((lambda key: items[f.transformed_name(key)]) if where is None else
          (lambda key: tf.gather_nd(items[f.transformed_name(key)], where)))
  return (pick(f.CATEGORY), pick(f.BRAND), pick(f.LOG_PRICE),
          tf.stack([tf.cast(pick(k), tf.float32)
                    for k in HEAD_ITEM_FEATURES], axis=-1))


# Transformed item features the head reads, besides the match: ids, then
# numbers.
HEAD_ITEM_IDS = (f.CATEGORY, f.BRAND)
HEAD_ITEM_NUMBERS = (f.LOG_PRICE,) + HEAD_ITEM_FEATURES


class CoarseRankingModel(two_tower.TwoTowerModel):
  """Score s = <q, i> / temperature (+ head(match features, item numbers)).

  With `hparams.match_head` and count tables, a candidate's score adds
  `ScoreHead` over its `QueryItemMatch` features given the request and the
  item's HEAD_ITEM_FEATURES; the task gives the loss.
  """

  # Nothing under a step branches in Python on a tensor (the towers, the
  # task, losses and metrics are this package's), so AutoGraph need not
  # rewrite their source, and Keras's, at each trace: on a 60-step Trainer
  # that rewriting was a third of the component's time. (The baseline keeps
  # AutoGraph: TFRS's Retrieval task needs it.)
  train_step = tf.autograph.experimental.do_not_convert(
      two_tower.TwoTowerModel.train_step)
  test_step = tf.autograph.experimental.do_not_convert(
      two_tower.TwoTowerModel.test_step)

  def __init__(self, vocab: towers.VocabSizes, hparams: hparams_lib.HParams,
               tables: Optional[match_lib.MatchTables] = None):
    super().__init__(vocab, hparams)
    self.task = task_from(hparams)
    self.match = None
    self.head = None
    if hparams.match_head and tables is not None:
      self.match = match_lib.QueryItemMatch(tables)
      self.head = head_lib.ScoreHead(hparams.head_hidden_dim)

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

  def head_score(self, profiles: match_lib.Profiles,
                 items: Mapping[str, tf.Tensor], where=None) -> tf.Tensor:
    """The head's scores of the lists' entries (or those at `where`)."""
    return head_score(self.match, self.head, profiles,
                      *head_inputs(items, where))

  def _scores(self, inputs, queries: tf.Tensor, items: tf.Tensor,
              profiles: Optional[match_lib.Profiles]) -> tf.Tensor:
    scores = self.score(queries, items)
    if profiles is not None:
      scores = self.head.combine(scores, self.head_score(profiles, inputs))
    return scores

  def _profiles(self, inputs) -> Optional[match_lib.Profiles]:
    return self.match.profiles(inputs) if self.match is not None else None

  def score_parts(self, inputs) -> Tuple[tf.Tensor, tf.Tensor]:
    """(the two towers' scores, the head's) of the lists' items, each
    `[batch, list_size]` (the head's 0 without a head): the score is
    `head.combine` of them."""
    two_tower = self.score(self.query_tower(inputs),
                           self.list_item_embeddings(inputs))
    profiles = self._profiles(inputs)
    if profiles is None:
      return two_tower, tf.zeros_like(two_tower)
    return two_tower, self.head_score(profiles, inputs)

  def call(self, inputs, training: bool = False) -> tf.Tensor:
    """Scores of the lists' items, `[batch, list_size]`."""
    return self._scores(inputs, self.query_tower(inputs, training=training),
                        self.list_item_embeddings(inputs, training),
                        self._profiles(inputs))

  def compute_loss(self, inputs, training: bool = False) -> tf.Tensor:
    queries = self.query_tower(inputs, training=training)
    items = self.list_item_embeddings(inputs, training)
    profiles = self._profiles(inputs)
    logits = self._scores(inputs, queries, items, profiles)
    cross = None
    if self.task.w_in_batch:
      # Every query against the batch's positives only: [batch, positives].
      where = self.task.in_batch_positives(inputs)
      cross = tf.matmul(queries, tf.gather_nd(items, where),
                        transpose_b=True) / self.temperature
      if profiles is not None:
        cross = self.head.combine(cross,
                                  self.head_score(profiles, inputs, where))
    return self.task(inputs, logits, training=training, cross_logits=cross)
