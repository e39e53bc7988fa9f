"""Listwise softmax and distillation losses over padded item lists."""

from typing import Tuple, Union

import tensorflow as tf

_Number = Union[float, tf.Tensor]


def _valid(mask: tf.Tensor) -> tf.Tensor:
  """Casts a bool or 0/1 `[batch, list_size]` mask to bool."""
  return tf.cast(mask, tf.bool)


def _masked_logsumexp(
    x: tf.Tensor, mask: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """Log-sum-exp over the masked entries of each list, split for precision.

  The log-sum-exp is `shift + log_sum`, with `shift` the largest masked entry
  (without gradient). Callers subtract an entry from `shift` before adding
  `log_sum`, which keeps ties of large values (1e4) exact in float32.
  Entries outside `mask` may hold any value, including +-inf or NaN: they
  reach neither the result nor the gradient.

  Args:
    x: Float `[..., list_size]`.
    mask: Bool `[..., list_size]`, the entries to sum over; `x` and `mask`
      broadcast against each other (e.g. `[batch, list_size]` logits against
      `[num_objectives, batch, list_size]` masks).

  Returns:
    A triple `(shift, log_sum, nonempty)` of the broadcast shape with a last
    dimension of 1: `shift` and `log_sum` are 0 (finite, with zero gradient)
    where a list has no masked entry, and `nonempty` tells which lists have
    one.
  """
  zero = tf.zeros([], x.dtype)
  nonempty = tf.reduce_any(mask, axis=-1, keepdims=True)
  x = tf.where(mask, x, zero)
  shift = tf.reduce_max(tf.where(mask, x, x.dtype.min), axis=-1,
                        keepdims=True)
  shift = tf.stop_gradient(tf.where(nonempty, shift, zero))
  exp = tf.where(mask, tf.exp(x - shift), zero)
  total = tf.reduce_sum(exp, axis=-1, keepdims=True)
  log_sum = tf.math.log(tf.where(nonempty, total, tf.ones([], x.dtype)))
  return shift, log_sum, nonempty


def _mean_over_positives(per_item: tf.Tensor,
                         positives: tf.Tensor) -> tf.Tensor:
  """Mean of `per_item` `[..., list_size]` over `positives`; 0 if none."""
  weights = tf.cast(positives, per_item.dtype)
  num_positives = tf.reduce_sum(weights, axis=-1)
  total = tf.reduce_sum(
      tf.where(positives, per_item, tf.zeros([], per_item.dtype)), axis=-1)
  return tf.math.divide_no_nan(total, num_positives)


def _prepare(labels: tf.Tensor, logits: tf.Tensor,
             mask: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """Returns `(logits, valid, positives)` with padding logits zeroed."""
  logits = tf.convert_to_tensor(logits)
  if not logits.dtype.is_floating:
    logits = tf.cast(logits, tf.float32)
  valid = _valid(mask)
  positives = tf.logical_and(valid, tf.convert_to_tensor(labels) > 0)
  logits = tf.where(valid, logits, tf.zeros([], logits.dtype))
  return logits, valid, positives


def revised_softmax_loss(labels: tf.Tensor, logits: tf.Tensor,
                         mask: tf.Tensor) -> tf.Tensor:
  """Revised listwise softmax: each positive against the negatives only.

  For a list with valid entries S and positives P (valid entries with
  label > 0):

      L = -(1/|P|) sum_{p in P} log(e^{s_p} / (e^{s_p} + N)),
      N = sum_{n in S\\P} e^{s_n}

  computed as `softplus(logsumexp_{S\\P}(s) - s_p)`. A positive without any
  negative in its list contributes 0; a list without positives (or without
  valid entries) has loss 0 and zero gradients.

  Leading dimensions of `labels` broadcast against `logits` and `mask`:
  labels `[num_objectives, batch, list_size]` give the losses of several
  objectives over the same lists in one computation, each equal to the call
  with that objective's labels alone.

  >>> labels = tf.constant([[1., 1., 0., 0.]])
  >>> logits = tf.constant([[0., 0., 0., 5.]])
  >>> mask = tf.constant([[True, True, True, False]])
  >>> revised_softmax_loss(labels, logits, mask).numpy().round(4)  # log 2
  array([0.6931], dtype=float32)

  Args:
    labels: `[..., batch, list_size]`, positive where > 0 (0/1 or graded).
    logits: Float `[batch, list_size]`, the scores.
    mask: Bool or 0/1 `[batch, list_size]`, True for valid (non-padding)
      entries.

  Returns:
    Float `[..., batch]`, the loss of each list.
  """
  logits, valid, positives = _prepare(labels, logits, mask)
  negatives = tf.logical_and(valid, tf.logical_not(positives))
  shift, log_sum, has_negatives = _masked_logsumexp(logits, negatives)
  per_positive = tf.where(
      has_negatives, tf.math.softplus((shift - logits) + log_sum),
      tf.zeros([], logits.dtype))
  return _mean_over_positives(per_positive, positives)


def multi_positive_softmax_loss(labels: tf.Tensor, logits: tf.Tensor,
                                mask: tf.Tensor) -> tf.Tensor:
  """Plain multi-positive listwise softmax (the ablation of the revised one).

  For a list with valid entries S and positives P (valid entries with
  label > 0):

      L = -(1/|P|) sum_{p in P} log(e^{s_p} / sum_{j in S} e^{s_j})

  A list without positives has loss 0 and zero gradients. With exactly one
  positive it equals `revised_softmax_loss`. Leading dimensions of `labels`
  broadcast as in `revised_softmax_loss`.

  >>> labels = tf.constant([[1., 1., 0., 0.]])
  >>> logits = tf.constant([[0., 0., 0., 5.]])
  >>> mask = tf.constant([[True, True, True, False]])
  >>> multi_positive_softmax_loss(labels, logits, mask).numpy().round(4)
  array([1.0986], dtype=float32)

  Args:
    labels: `[..., batch, list_size]`, positive where > 0 (0/1 or graded).
    logits: Float `[batch, list_size]`, the scores.
    mask: Bool or 0/1 `[batch, list_size]`, True for valid entries.

  Returns:
    Float `[..., batch]`, the loss of each list.
  """
  logits, valid, positives = _prepare(labels, logits, mask)
  shift, log_sum, _ = _masked_logsumexp(logits, valid)
  return _mean_over_positives((shift - logits) + log_sum, positives)


def check_distillation_params(temperature: float,
                              label_smoothing: float) -> None:
  """Raises ValueError unless temperature > 0 and 0 <= label_smoothing < 1."""
  if not temperature > 0:
    raise ValueError(f"temperature must be > 0, got {temperature}")
  if not 0 <= label_smoothing < 1:
    raise ValueError(
        f"label_smoothing must be in [0, 1), got {label_smoothing}")


# How teacher scores become teacher logits (teacher_logits).
TEACHER_TRANSFORMS = ("none", "standardize", "rank")


def teacher_logits(scores: tf.Tensor, in_set: tf.Tensor,
                   transform: str = "none") -> tf.Tensor:
  """The teacher's logits over each list's distillation set.

  "none": the scores as they are. "standardize": (s - mean_D) / std_D,
  the set's mean and (population) standard deviation, 0 where the set's
  scores are all equal: logits, probabilities (pCTR, pCVR) or any score on
  its own scale give a teacher of the same sharpness, and an affine
  transform of the scores gives the same teacher. "rank": minus the number
  of the set's scores strictly above (the best 0, ties equal): the same
  teacher for every increasing transform of the scores.

  >>> scores = tf.constant([[0.01, 0.02, 0.03, 9.0]])
  >>> in_set = tf.constant([[True, True, True, False]])
  >>> teacher_logits(scores, in_set, "rank").numpy()
  array([[-2., -1.,  0.,  0.]], dtype=float32)
  >>> teacher_logits(scores, in_set, "standardize").numpy().round(4)
  array([[-1.2247,  0.    ,  1.2247,  0.    ]], dtype=float32)

  Args:
    scores: Float `[batch, list_size]`, finite on the set.
    in_set: Bool `[batch, list_size]`, the distillation set D.
    transform: one of TEACHER_TRANSFORMS.

  Returns:
    Float `[batch, list_size]`, 0 outside the set.
  """
  if transform not in TEACHER_TRANSFORMS:
    raise ValueError(f"teacher transform must be one of "
                     f"{list(TEACHER_TRANSFORMS)}, got {transform!r}")
  in_set = _valid(in_set)
  zero = tf.zeros([], scores.dtype)
  scores = tf.where(in_set, scores, zero)
  if transform == "standardize":
    weight = tf.cast(in_set, scores.dtype)
    count = tf.maximum(tf.reduce_sum(weight, axis=1, keepdims=True), 1.0)
    mean = tf.reduce_sum(scores * weight, axis=1, keepdims=True) / count
    centred = (scores - mean) * weight
    std = tf.sqrt(tf.reduce_sum(centred * centred, axis=1, keepdims=True)
                  / count)
    scores = tf.math.divide_no_nan(centred, std)
  elif transform == "rank":
    above = (scores[:, None, :] > scores[:, :, None]) & in_set[:, None, :]
    scores = zero - tf.reduce_sum(tf.cast(above, scores.dtype), axis=2)
  return tf.where(in_set, scores, zero)


def distillation_loss(teacher_scores: tf.Tensor, teacher_mask: tf.Tensor,
                      logits: tf.Tensor, mask: tf.Tensor,
                      temperature: _Number = 1.0,
                      label_smoothing: _Number = 0.0,
                      teacher_transform: str = "none") -> tf.Tensor:
  """Listwise distillation: cross-entropy from the teacher's softmax.

  Over the distillation set D = teacher_mask & mask of each list:

      t  = softmax_D(teacher_logits(teacher_scores) / temperature)
      t' = (1 - label_smoothing) * t + label_smoothing / |D|
      L  = -sum_{i in D} t'_i log softmax_D(logits)_i

  Only the teacher is tempered; the student softmax is not, and the loss is
  not rescaled by temperature^2. The teacher gets no gradient. Lists with
  |D| = 0 have loss 0 (as do lists with |D| = 1, where both softmaxes are 1).

  >>> teacher = tf.constant([[0., 0., float("-inf")]])
  >>> in_teacher = tf.math.is_finite(teacher)
  >>> logits = tf.constant([[1., 1., 9.]])
  >>> mask = tf.constant([[True, True, True]])
  >>> distillation_loss(teacher, in_teacher, logits, mask).numpy().round(4)
  array([0.6931], dtype=float32)

  Args:
    teacher_scores: Float `[batch, list_size]`, the teacher's (fine
      ranker's) scores, finite on D; values outside D are ignored and may be
      non-finite.
    teacher_mask: Bool or 0/1 `[batch, list_size]`, True where the teacher
      has a score.
    logits: Float `[batch, list_size]`, the student's scores.
    mask: Bool or 0/1 `[batch, list_size]`, True for valid entries.
    temperature: Teacher temperature T > 0.
    label_smoothing: Smoothing epsilon in [0, 1).
    teacher_transform: what the scores become first (teacher_logits).

  Returns:
    Float `[batch]`, the loss of each list.

  Raises:
    ValueError: If a Python-number temperature or label_smoothing is out of
      range, or the transform unknown.
  """
  if isinstance(temperature, (int, float)) and isinstance(
      label_smoothing, (int, float)):
    check_distillation_params(temperature, label_smoothing)
  logits = tf.convert_to_tensor(logits)
  if not logits.dtype.is_floating:
    logits = tf.cast(logits, tf.float32)
  dtype = logits.dtype
  zero = tf.zeros([], dtype)
  in_set = tf.logical_and(_valid(teacher_mask), _valid(mask))
  set_size = tf.reduce_sum(tf.cast(in_set, dtype), axis=1, keepdims=True)

  teacher = tf.stop_gradient(tf.cast(teacher_scores, dtype))
  teacher = teacher_logits(tf.where(in_set, teacher, zero), in_set,
                           teacher_transform)
  teacher = teacher / tf.cast(temperature, dtype)
  shift, log_sum, _ = _masked_logsumexp(teacher, in_set)
  teacher_probs = tf.where(in_set, tf.exp((teacher - shift) - log_sum),
                           zero)
  smoothing = tf.cast(label_smoothing, dtype)
  targets = ((1 - smoothing) * teacher_probs +
             smoothing * tf.math.divide_no_nan(tf.ones([], dtype), set_size))
  targets = tf.stop_gradient(tf.where(in_set, targets, zero))

  logits = tf.where(in_set, logits, zero)
  shift, log_sum, _ = _masked_logsumexp(logits, in_set)
  log_probs = (logits - shift) - log_sum
  return -tf.reduce_sum(tf.where(in_set, targets * log_probs, zero), axis=1)


def log_q_correction(logits: tf.Tensor, log_q: tf.Tensor,
                     correct: tf.Tensor) -> tf.Tensor:
  """Subtracts the log sampling probability from the selected logits.

  The logQ correction of sampled-softmax retrieval models, applied only to
  the entries drawn by a sampler (e.g. random negatives), before the loss.

  >>> logits = tf.constant([[2., 2.]])
  >>> log_q = tf.math.log(tf.constant([[0.5, 0.5]]))
  >>> correct = tf.constant([[False, True]])
  >>> log_q_correction(logits, log_q, correct).numpy().round(4)
  array([[2.    , 2.6931]], dtype=float32)

  Args:
    logits: Float `[batch, list_size]`.
    log_q: Float `[batch, list_size]`, log sampling probabilities; ignored
      (and allowed to be non-finite) where `correct` is False.
    correct: Bool or 0/1 `[batch, list_size]`, True where to correct.

  Returns:
    Float `[batch, list_size]`: `logits - log_q` where `correct`, else
    `logits`.
  """
  logits = tf.convert_to_tensor(logits)
  correct = _valid(correct)
  log_q = tf.cast(log_q, logits.dtype)
  log_q = tf.where(correct, log_q, tf.zeros_like(log_q))
  return logits - log_q


def batch_positives(labels: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
  """int64 `[num_positives, 2]`: (list, entry) of the batch's positives
  (valid entries with label > 0), list by list, in entry order: the
  columns of `in_batch_softmax_loss`'s `cross_logits`."""
  return tf.where(tf.logical_and(_valid(mask),
                                 tf.convert_to_tensor(labels) > 0))


def in_batch_softmax_loss(labels: tf.Tensor, logits: tf.Tensor,
                          mask: tf.Tensor, cross_logits: tf.Tensor,
                          item_ids: tf.Tensor) -> tf.Tensor:
  """Each list's positives against the other lists' positives.

  The in-batch negatives of two-tower retrieval, without logQ correction:
  for list b with positives P_b (valid entries with label > 0),

      L_b = -(1/|P_b|) sum_{p in P_b} log(e^{s_p} / (e^{s_p} + N_b)),
      N_b = sum over positives n of the other lists whose item is not in
            list b of e^{s(b, n)}

  (the revised softmax of `revised_softmax_loss` with the negatives taken
  from the batch), s(b, n) list b's query scored against positive n. An
  item of list b is never its own negative, wherever it appears (TFRS's
  remove_accidental_hits). A list without positives, or without negatives
  in the batch, has loss 0. Only the batch's positives are scored against
  every query: `[batch, num_positives]`, not `[batch, batch, list_size]`.

  >>> labels = tf.constant([[1., 0.], [1., 0.]])
  >>> logits = tf.constant([[0., 0.], [0., 0.]])
  >>> mask = tf.constant([[True, True], [True, True]])
  >>> cross = tf.zeros([2, 2])          # every query scores 0 everywhere
  >>> ids = tf.constant([[1, 2], [3, 4]])
  >>> in_batch_softmax_loss(labels, logits, mask, cross, ids).numpy().round(4)
  array([0.6931, 0.6931], dtype=float32)

  Args:
    labels: `[batch, list_size]`, positive where > 0.
    logits: Float `[batch, list_size]`, each list's scores.
    mask: Bool or 0/1 `[batch, list_size]`, True for valid entries.
    cross_logits: Float `[batch, num_positives]`: `[b, n]` is list b's
      query scored against positive n of `batch_positives(labels, mask)`.
    item_ids: Int `[batch, list_size]`, the entries' item ids.

  Returns:
    Float `[batch]`, the loss of each list.
  """
  logits, valid, positives = _prepare(labels, logits, mask)
  batch = tf.shape(logits)[0]
  where = batch_positives(labels, mask)
  owner = where[:, 0]
  positive_ids = tf.gather_nd(item_ids, where)
  cross = tf.cast(cross_logits, logits.dtype)
  # A positive is a negative of list b unless it is b's own or an item of b.
  others = tf.not_equal(owner[None, :], tf.range(batch, dtype=owner.dtype)[
      :, None])
  in_own_list = tf.reduce_any(
      tf.equal(positive_ids[None, :, None], item_ids[:, None, :])
      & valid[:, None, :], axis=-1)
  negatives = others & tf.logical_not(in_own_list)
  return revised_softmax_loss(
      tf.concat([tf.cast(positives, logits.dtype), tf.zeros_like(cross)],
                axis=1),
      tf.concat([logits, cross], axis=1),
      tf.concat([positives, negatives], axis=1))
