"""The multi-objective listwise task: weighted softmax losses per objective plus distillation."""

from typing import Mapping, Optional, Sequence

import tensorflow as tf

from models import features as f
from models.losses import listwise
from models.metrics import keras_metrics


def _xf(inputs: Mapping[str, tf.Tensor], key: str) -> tf.Tensor:
  return inputs[f.transformed_name(key)]


@tf.keras.utils.register_keras_serializable(package="coarse_rank")
class MultiObjectiveListwiseTask(tf.keras.layers.Layer):
  """Owns the losses and metrics of the coarse ranker.

  L = sum_o w_o L_o + w_d L_d (+ w_b L_b) over objectives o in {exposure,
  click, purchase}: L_o is the revised (or plain) listwise softmax of the
  lists' labels, L_d the listwise distillation from the fine ranker's scores
  over exposed (and optionally unexposed) items that have one, L_b (when
  w_in_batch > 0) the clicked entries against the other lists' clicked
  entries, uncorrected (in-batch negatives, as TFRS retrieval). With
  log_q_correction, the softmax losses see the logits of sampled negatives
  (random and candidate) minus the log of their sampling probability (the
  metrics and the distillation see the raw logits). The teacher's scores
  go through `teacher_transform` (losses/listwise.teacher_logits) before
  its tempered softmax. Entries whose `sample_type` is in
  `excluded_sample_types` are treated as padding by every loss and metric
  (the ablations without unexposed items or out-of-scene purchases).

  Call args:
    inputs: transformed features with the labels, `mask`, `fine_score`,
      `fine_score_mask` and `sample_type`, each `[batch, list_size]`.
    logits: scores `[batch, list_size]`.
    cross_logits: with w_in_batch > 0, `[batch, num_positives]`: each
      list's query scored against the batch's positives
      (`in_batch_positives`).

  Returns:
    The scalar total loss. Per-objective losses are tracked as metrics, and
    so are the purchase hitrate@10 and NDCG@10 of the lists when not
    training.
  """

  def __init__(self, *, w_exposure: float, w_click: float,
               w_purchase: float, w_distillation: float,
               distillation_temperature: float, label_smoothing: float,
               distill_unexposed: bool, revised_softmax: bool,
               log_q_correction: bool, w_in_batch: float,
               teacher_transform: str,
               excluded_sample_types: Sequence[int] = (), **kwargs):
    super().__init__(**kwargs)
    unknown = set(excluded_sample_types) - set(f.SAMPLE_TYPE_NAMES)
    if unknown:
      raise ValueError(f"unknown sample types: {sorted(unknown)}; known: "
                       f"{f.SAMPLE_TYPE_NAMES}")
    self._config = dict(
        w_exposure=w_exposure, w_click=w_click, w_purchase=w_purchase,
        w_distillation=w_distillation,
        distillation_temperature=distillation_temperature,
        label_smoothing=label_smoothing, distill_unexposed=distill_unexposed,
        revised_softmax=revised_softmax, log_q_correction=log_q_correction,
        excluded_sample_types=sorted(set(excluded_sample_types)),
        w_in_batch=w_in_batch, teacher_transform=teacher_transform)
    listwise.check_distillation_params(distillation_temperature,
                                       label_smoothing)
    if teacher_transform not in listwise.TEACHER_TRANSFORMS:
      raise ValueError(f"teacher_transform must be one of "
                       f"{list(listwise.TEACHER_TRANSFORMS)}, got "
                       f"{teacher_transform!r}")
    self._teacher_transform = teacher_transform
    self._excluded = tuple(sorted(set(excluded_sample_types)))
    self._log_q_correction = log_q_correction
    self._objectives = ((f.LABEL_EXPOSURE, w_exposure),
                        (f.LABEL_CLICK, w_click),
                        (f.LABEL_PURCHASE, w_purchase))
    self._softmax_loss = (listwise.revised_softmax_loss if revised_softmax
                          else listwise.multi_positive_softmax_loss)
    self._distillation_temperature = float(distillation_temperature)
    self._label_smoothing = float(label_smoothing)
    self._w_distillation = w_distillation
    self._distill_unexposed = distill_unexposed
    self.w_in_batch = w_in_batch
    self._loss_trackers = {
        key: tf.keras.metrics.Mean(name=f"loss_{key}")
        for key in [o for o, _ in self._objectives] + ["distillation"] + (
            ["in_batch"] if w_in_batch else [])}
    self._list_metrics = [
        keras_metrics.ListHitrate(k=10, name="purchase_hitrate_at_10"),
        keras_metrics.ListNDCG(k=10, name="purchase_ndcg_at_10")]

  @property
  def metrics(self):
    return list(self._loss_trackers.values()) + self._list_metrics

  def valid(self, inputs: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """bool `[batch, list_size]`: entries the losses and metrics see.

    Those with `mask == 1` whose sample type is not excluded.
    """
    valid = tf.equal(_xf(inputs, f.MASK), 1)
    sample_type = _xf(inputs, f.SAMPLE_TYPE)
    for excluded in self._excluded:
      valid &= tf.not_equal(sample_type, excluded)
    return valid

  def distillation_set(self, inputs: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """bool `[batch, list_size]`: entries the teacher distils over."""
    sample_type = _xf(inputs, f.SAMPLE_TYPE)
    allowed = tf.equal(sample_type, f.SAMPLE_EXPOSED)
    if self._distill_unexposed:
      allowed |= tf.equal(sample_type, f.SAMPLE_UNEXPOSED)
    return (allowed & self.valid(inputs)
            & tf.equal(_xf(inputs, f.FINE_SCORE_MASK), 1))

  def softmax_logits(self, inputs: Mapping[str, tf.Tensor],
                     logits: tf.Tensor) -> tf.Tensor:
    """Logits of the softmax losses: logQ-corrected for sampled negatives."""
    if not self._log_q_correction:
      return logits
    sample_type = _xf(inputs, f.SAMPLE_TYPE)
    sampled = tf.reduce_any(tf.stack([tf.equal(sample_type, t)
                                      for t in f.SAMPLED_NEGATIVES]), axis=0)
    return listwise.log_q_correction(
        logits, tf.cast(_xf(inputs, f.SAMPLING_LOG_Q), logits.dtype),
        sampled)

  def objective_losses(self, inputs: Mapping[str, tf.Tensor],
                       logits: tf.Tensor) -> tf.Tensor:
    """Batch means of the softmax losses, `[num_objectives]`.

    One softmax-loss computation over the objectives' stacked labels
    `[num_objectives, batch, list_size]`: the logits, the validity mask and
    the per-list work shared by the objectives are computed once.
    """
    labels = tf.stack([_xf(inputs, key) for key, _ in self._objectives])
    per_list = self._softmax_loss(labels, self.softmax_logits(inputs, logits),
                                  self.valid(inputs))
    return tf.reduce_mean(per_list, axis=-1)

  def distillation_loss(self, inputs: Mapping[str, tf.Tensor],
                        logits: tf.Tensor) -> tf.Tensor:
    """Batch mean of the distillation loss over `distillation_set`.

    Entries whose fine score is not finite are left out of the set.
    """
    teacher = tf.cast(_xf(inputs, f.FINE_SCORE), logits.dtype)
    in_set = self.distillation_set(inputs) & tf.math.is_finite(teacher)
    return tf.reduce_mean(listwise.distillation_loss(
        teacher, in_set, logits, in_set,
        temperature=self._distillation_temperature,
        label_smoothing=self._label_smoothing,
        teacher_transform=self._teacher_transform))

  def in_batch_positives(self, inputs: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """int64 `[num_positives, 2]`: (list, entry) of the clicked valid entries
    the in-batch softmax scores every query against."""
    return listwise.batch_positives(_xf(inputs, f.LABEL_CLICK),
                                    self.valid(inputs))

  def in_batch_loss(self, inputs: Mapping[str, tf.Tensor],
                    logits: tf.Tensor, cross_logits: tf.Tensor) -> tf.Tensor:
    """Batch mean of the in-batch softmax of the clicked entries."""
    return tf.reduce_mean(listwise.in_batch_softmax_loss(
        _xf(inputs, f.LABEL_CLICK), logits, self.valid(inputs),
        cross_logits, _xf(inputs, f.ITEM_ID)))

  def call(self, inputs: Mapping[str, tf.Tensor], logits: tf.Tensor,
           training: bool = False,
           cross_logits: Optional[tf.Tensor] = None) -> tf.Tensor:
    total = tf.constant(0.0)
    if self.w_in_batch:
      if cross_logits is None:
        raise ValueError("w_in_batch > 0 needs the cross_logits "
                         "[batch, num_positives]")
      in_batch = self.in_batch_loss(inputs, logits, cross_logits)
      self._loss_trackers["in_batch"].update_state(in_batch)
      total += self.w_in_batch * in_batch
    losses = tf.unstack(self.objective_losses(inputs, logits),
                        num=len(self._objectives))
    for (key, weight), loss in zip(self._objectives, losses):
      self._loss_trackers[key].update_state(loss)
      total += weight * loss
    # The list metrics sort every list: like TFRS tasks with
    # compute_metrics=not training, they are kept for evaluation.
    if not training:
      labels = tf.where(self.valid(inputs),
                        tf.cast(_xf(inputs, f.LABEL_PURCHASE), logits.dtype),
                        -1.0)
      for metric in self._list_metrics:
        metric.update_state(labels, logits)
    distill = self.distillation_loss(inputs, logits)
    self._loss_trackers["distillation"].update_state(distill)
    return total + self._w_distillation * distill

  def get_config(self):
    return {**super().get_config(), **self._config}

