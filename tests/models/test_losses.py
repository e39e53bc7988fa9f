"""Tests of the listwise losses against NumPy references."""


import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from models import losses
from models.losses import keras_losses
from models.losses import listwise

NEG_INF = -np.inf


def _np_logsumexp(x: np.ndarray) -> float:
  if x.size == 0:
    return -np.inf
  shift = np.max(x)
  return float(shift + np.log(np.sum(np.exp(x - shift))))


def _np_softmax_loss(labels, logits, mask, revised: bool) -> np.ndarray:
  """Per-list reference of both softmax losses, one list at a time."""
  out = []
  for label, logit, valid in zip(np.asarray(labels, np.float64),
                                 np.asarray(logits, np.float64),
                                 np.asarray(mask, bool)):
    positives = np.flatnonzero(valid & (label > 0))
    negatives = logit[valid & (label <= 0)]
    terms = []
    for p in positives:
      if revised:
        log_denominator = _np_logsumexp(np.append(negatives, logit[p]))
      else:
        log_denominator = _np_logsumexp(logit[valid])
      terms.append(log_denominator - logit[p])
    out.append(np.mean(terms) if terms else 0.0)
  return np.array(out)


def _np_distillation_loss(teacher, teacher_mask, logits, mask, temperature,
                          label_smoothing) -> np.ndarray:
  out = []
  for t, t_valid, s, valid in zip(np.asarray(teacher, np.float64),
                                  np.asarray(teacher_mask, bool),
                                  np.asarray(logits, np.float64),
                                  np.asarray(mask, bool)):
    in_set = t_valid & valid
    if not in_set.any():
      out.append(0.0)
      continue
    t_set = t[in_set] / temperature
    target = np.exp(t_set - _np_logsumexp(t_set))
    target = (1 - label_smoothing) * target + label_smoothing / in_set.sum()
    log_probs = s[in_set] - _np_logsumexp(s[in_set])
    out.append(-np.sum(target * log_probs))
  return np.array(out)


# A batch with padding, several positives, one positive, no positives, ties,
# a single valid item, all padding and only positives.
LABELS = np.array([
    [1, 0, 1, 0, 0],
    [0, 1, 0, 0, 0],
    [0, 0, 0, 0, 0],
    [1, 1, 0, 0, 0],
    [1, 0, 0, 0, 0],
    [0, 0, 0, 0, 0],
    [1, 1, 1, 0, 0],
], np.float32)
LOGITS = np.array([
    [0.5, -1.0, 2.0, 0.3, 7.0],
    [0.1, 0.2, 0.3, 0.4, 0.5],
    [1.0, 2.0, 3.0, 0.0, 0.0],
    [1.0, 1.0, 1.0, 1.0, 9.0],
    [3.0, -5.0, 0.0, 0.0, 0.0],
    [4.0, 4.0, 4.0, 4.0, 4.0],
    [0.5, 1.5, -2.0, 8.0, 8.0],
], np.float32)
MASK = np.array([
    [1, 1, 1, 1, 0],
    [1, 1, 1, 1, 1],
    [1, 1, 1, 0, 0],
    [1, 1, 1, 1, 0],
    [1, 0, 0, 0, 0],
    [0, 0, 0, 0, 0],
    [1, 1, 1, 0, 0],
], bool)


def _random_batch(seed: int, batch: int = 6, list_size: int = 8,
                  scale: float = 3.0):
  rng = np.random.default_rng(seed)
  labels = (rng.random((batch, list_size)) < 0.3).astype(np.float32)
  logits = (scale * rng.standard_normal((batch, list_size))).astype(
      np.float32)
  mask = rng.random((batch, list_size)) < 0.8
  return labels, logits, mask


class SoftmaxLossTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      ("revised", listwise.revised_softmax_loss, True),
      ("plain", listwise.multi_positive_softmax_loss, False))
  def test_matches_numpy(self, loss_fn, revised):
    for labels, logits, mask in [(LABELS, LOGITS, MASK),
                                 _random_batch(0), _random_batch(1)]:
      self.assertAllClose(
          loss_fn(labels, logits, mask),
          _np_softmax_loss(labels, logits, mask, revised), rtol=1e-5,
          atol=1e-5)

  def test_hand_computed(self):
    labels = [[1, 1, 0, 0]]
    logits = [[0.0, 0.0, 0.0, 5.0]]
    mask = [[1, 1, 1, 0]]
    # Revised: each positive against the single negative, -log(1/2).
    self.assertAllClose(listwise.revised_softmax_loss(labels, logits, mask),
                        [np.log(2.0)])
    # Plain: each positive against all three valid items, -log(1/3).
    self.assertAllClose(
        listwise.multi_positive_softmax_loss(labels, logits, mask),
        [np.log(3.0)])
    # Positives s=0 and s=2, each against the negatives s=1 and s=0:
    # -log(1 / (1 + e + 1)) and -log(e^2 / (e^2 + e + 1)).
    labels = [[1, 0, 1, 0]]
    logits = [[0.0, 1.0, 2.0, 0.0]]
    negatives = np.exp(1.0) + np.exp(0.0)
    expected = 0.5 * (np.log(1 + negatives) +
                      np.log(np.exp(2.0) + negatives) - 2.0)
    self.assertAllClose(
        listwise.revised_softmax_loss(labels, logits, [[1, 1, 1, 1]]),
        [expected])

  @parameterized.named_parameters(
      ("revised", listwise.revised_softmax_loss),
      ("plain", listwise.multi_positive_softmax_loss))
  def test_no_positives_is_exactly_zero(self, loss_fn):
    labels = np.zeros((3, 4), np.float32)
    logits = np.array([[1.0, 2.0, 3.0, 4.0], [1e4, -1e4, 0.0, 0.0],
                       [0.0, 0.0, 0.0, 0.0]], np.float32)
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 0, 0]], bool)
    logits_var = tf.Variable(logits)
    with tf.GradientTape() as tape:
      loss = loss_fn(labels, logits_var, mask)
    self.assertAllEqual(loss, [0.0, 0.0, 0.0])
    self.assertAllEqual(tape.gradient(loss, logits_var), np.zeros_like(logits))

  def test_padded_positive_is_ignored(self):
    labels = [[0, 0, 1]]
    mask = [[1, 1, 0]]
    self.assertAllEqual(
        listwise.revised_softmax_loss(labels, [[1.0, 2.0, 3.0]], mask), [0.0])

  def test_only_positives(self):
    labels = [[1, 1, 0]]
    logits = [[0.0, 3.0, 100.0]]
    mask = [[1, 1, 0]]
    # Revised: no negatives, each ratio is e^s / e^s.
    self.assertAllEqual(listwise.revised_softmax_loss(labels, logits, mask),
                        [0.0])
    lse = np.log(1 + np.exp(3.0))
    self.assertAllClose(
        listwise.multi_positive_softmax_loss(labels, logits, mask),
        [0.5 * (lse + lse - 3.0)])

  def test_revised_equals_plain_with_one_positive(self):
    labels, logits, mask = _random_batch(2)
    one_positive = np.zeros_like(labels)
    one_positive[np.arange(len(labels)), np.argmax(mask, axis=1)] = 1.0
    self.assertAllClose(
        listwise.revised_softmax_loss(one_positive, logits, mask),
        listwise.multi_positive_softmax_loss(one_positive, logits, mask))

  def test_revised_differs_from_plain_with_two_positives(self):
    labels = [[1, 1, 0, 0]]
    logits = [[0.3, -0.2, 0.1, 0.5]]
    mask = [[1, 1, 1, 1]]
    revised = listwise.revised_softmax_loss(labels, logits, mask)
    plain = listwise.multi_positive_softmax_loss(labels, logits, mask)
    # The other positive leaves the revised denominator: a smaller loss.
    self.assertAllLess(revised - plain, -0.1)

  @parameterized.named_parameters(
      ("revised", listwise.revised_softmax_loss, True),
      ("plain", listwise.multi_positive_softmax_loss, False))
  def test_large_logits_and_ties(self, loss_fn, revised):
    labels = np.array([[1, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0],
                       [1, 0, 1, 0]], np.float32)
    logits = np.array([[1e4, -1e4, 1e4, -1e4], [-1e4, 1e4, 1e4, 0.0],
                       [1e4, 1e4, 1e4, 1e4], [2.0, 2.0, 2.0, 2.0]],
                      np.float32)
    mask = np.ones_like(labels, bool)
    logits_var = tf.Variable(logits)
    with tf.GradientTape() as tape:
      loss = loss_fn(labels, logits_var, mask)
    self.assertAllClose(loss, _np_softmax_loss(labels, logits, mask, revised),
                        rtol=1e-6)
    self.assertTrue(np.all(np.isfinite(loss)))
    self.assertTrue(np.all(np.isfinite(tape.gradient(loss, logits_var))))
    # Ties: one positive among four equal logits, log(4).
    self.assertAllClose(loss[2], np.log(4.0))

  @parameterized.named_parameters(
      ("revised", listwise.revised_softmax_loss, True),
      ("plain", listwise.multi_positive_softmax_loss, False))
  def test_gradients_finite_and_zero_on_padding(self, loss_fn, revised):
    labels, logits, mask = LABELS, LOGITS.copy(), MASK
    logits[~mask] = np.array([np.inf, -np.inf, np.nan, 1e30, 7.0] * 7,
                             np.float32)[:np.sum(~mask)]
    logits_var = tf.Variable(logits)
    with tf.GradientTape() as tape:
      loss = loss_fn(labels, logits_var, mask)
    gradient = tape.gradient(loss, logits_var).numpy()
    self.assertTrue(np.all(np.isfinite(loss)))
    self.assertTrue(np.all(np.isfinite(gradient)))
    self.assertAllEqual(gradient[~mask], np.zeros(np.sum(~mask)))
    # Lists without positives (rows 2 and 5) get no gradient at all.
    self.assertAllEqual(gradient[[2, 5]], np.zeros((2, 5)))
    clean = np.where(mask, logits, 0.0)
    self.assertAllClose(loss, _np_softmax_loss(labels, clean, mask, revised),
                        rtol=1e-5)

  @parameterized.named_parameters(
      ("revised", listwise.revised_softmax_loss, True),
      ("plain", listwise.multi_positive_softmax_loss, False))
  def test_stacked_labels_equal_one_call_per_objective(self, loss_fn,
                                                       revised):
    # Three objectives over the same padded lists: the hand-made edge cases
    # and random lists, with large logits in some rows.
    rng = np.random.default_rng(6)
    cases = [(np.stack([LABELS, 1.0 - LABELS, np.zeros_like(LABELS)]),
              LOGITS, MASK)]
    for seed, scale in ((7, 3.0), (8, 1e4)):
      _, logits, mask = _random_batch(seed, batch=16, list_size=12,
                                      scale=scale)
      labels = (rng.random((3, 16, 12)) < [[[0.6]], [[0.3]], [[0.1]]])
      cases.append((labels.astype(np.int64), logits, mask))
    for labels, logits, mask in cases:
      logits_var = tf.Variable(logits)
      with tf.GradientTape(persistent=True) as tape:
        stacked = loss_fn(labels, logits_var, mask)
        separate = tf.stack([loss_fn(l, logits_var, mask) for l in labels])
        weighted = [tf.reduce_sum(x * [[0.2], [0.5], [1.0]])
                    for x in (stacked, separate)]
      self.assertEqual(stacked.shape, (3,) + logits.shape[:1])
      self.assertAllClose(stacked, separate, rtol=1e-6, atol=1e-6)
      for objective_labels, loss in zip(labels, stacked.numpy()):
        self.assertAllClose(
            loss, _np_softmax_loss(objective_labels, np.where(
                mask, logits, 0.0), mask, revised), rtol=1e-5, atol=1e-5)
      gradients = [tape.gradient(w, logits_var) for w in weighted]
      self.assertTrue(np.all(np.isfinite(gradients[0])))
      self.assertAllClose(gradients[0], gradients[1], rtol=1e-6, atol=1e-6)

  def test_gradient_matches_numpy_derivative(self):
    labels = np.array([[1, 0, 1, 0]], np.float32)
    logits = np.array([[0.2, -0.4, 1.1, 0.7]], np.float32)
    mask = np.array([[1, 1, 1, 0]], bool)
    logits_var = tf.Variable(logits)
    with tf.GradientTape() as tape:
      loss = listwise.revised_softmax_loss(labels, logits_var, mask)
    eps = 1e-3
    numeric = np.zeros_like(logits, np.float64)
    for j in range(logits.shape[1]):
      up, down = logits.astype(np.float64), logits.astype(np.float64)
      up[0, j] += eps
      down[0, j] -= eps
      numeric[0, j] = (_np_softmax_loss(labels, up, mask, True)[0] -
                       _np_softmax_loss(labels, down, mask, True)[0]) / (
                           2 * eps)
    self.assertAllClose(tape.gradient(loss, logits_var), numeric, atol=1e-4)


class DistillationLossTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters((1.0, 0.0), (2.0, 0.0), (0.5, 0.1), (1.0, 0.5))
  def test_matches_numpy(self, temperature, label_smoothing):
    rng = np.random.default_rng(3)
    teacher = rng.standard_normal((5, 6)).astype(np.float32)
    teacher_mask = rng.random((5, 6)) < 0.7
    teacher_mask[4] = False
    _, logits, mask = _random_batch(4, batch=5, list_size=6)
    self.assertAllClose(
        listwise.distillation_loss(teacher, teacher_mask, logits, mask,
                                   temperature, label_smoothing),
        _np_distillation_loss(teacher, teacher_mask, logits, mask,
                              temperature, label_smoothing), rtol=1e-5)

  @parameterized.parameters("standardize", "rank")
  def test_transformed_teacher_matches_numpy(self, transform):
    rng = np.random.default_rng(11)
    teacher = rng.standard_normal((5, 6)).astype(np.float32)
    teacher[0, :3] = 0.25  # ties
    teacher_mask = rng.random((5, 6)) < 0.7
    teacher_mask[4] = False
    _, logits, mask = _random_batch(4, batch=5, list_size=6)
    expected = _np_distillation_loss(
        _np_teacher_logits(teacher, teacher_mask & mask, transform),
        teacher_mask, logits, mask, 1.0, 0.1)
    self.assertAllClose(
        listwise.distillation_loss(teacher, teacher_mask, logits, mask, 1.0,
                                   0.1, teacher_transform=transform),
        expected, rtol=1e-5)

  @parameterized.parameters("standardize", "rank")
  def test_the_teacher_does_not_depend_on_the_score_s_scale(self, transform):
    # The same ranking logged as a logit, as a calibrated probability (its
    # sigmoid, a pCTR in (0, 1)) and as 1000 times the logit plus 7.
    rng = np.random.default_rng(2)
    logit = rng.normal(0.0, 2.0, (4, 8)).astype(np.float32)
    in_set = np.ones((4, 8), bool)
    kinds = {"logit": logit, "affine": 1000.0 * logit + 7.0,
             "probability": 1.0 / (1.0 + np.exp(-logit))}
    teachers = {name: listwise.teacher_logits(tf.constant(x), in_set,
                                              transform).numpy()
                for name, x in kinds.items()}
    self.assertAllClose(teachers["affine"], teachers["logit"], rtol=1e-4,
                        atol=1e-4)
    if transform == "rank":  # Any increasing transform gives the same.
      self.assertAllEqual(teachers["probability"], teachers["logit"])
    # Probabilities in (0, 1) under a temperature-1 softmax are close to
    # uniform untransformed; either transform makes the teacher as sharp
    # as the logit's (max probability well above uniform's 1/8).
    softmax = lambda x: np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    raw = softmax(kinds["probability"].astype(np.float64)).max(axis=1)
    sharp = softmax(teachers["probability"].astype(np.float64)).max(axis=1)
    assert (raw < 0.22).all() and (sharp > 1.4 * raw).all()

  def test_an_unknown_transform_is_refused(self):
    with self.assertRaisesRegex(ValueError, "teacher transform"):
      listwise.teacher_logits(tf.zeros([1, 2]), tf.ones([1, 2], tf.bool),
                              "softmax")

  def test_hand_computed(self):
    # D = {0, 1}; teacher softmax(0, log 3) = (1/4, 3/4); smoothed with
    # eps = 0.2: (0.3, 0.7); student softmax(0, 0) = (1/2, 1/2).
    loss = listwise.distillation_loss(
        teacher_scores=[[0.0, np.log(3.0), 5.0]], teacher_mask=[[1, 1, 0]],
        logits=[[0.0, 0.0, 4.0]], mask=[[1, 1, 1]], temperature=1.0,
        label_smoothing=0.2)
    self.assertAllClose(loss, [np.log(2.0)])

  def test_teacher_equals_student_gives_entropy(self):
    scores = np.array([[1.0, 2.0, 0.5, -1.0], [3.0, 3.0, 0.0, 0.0]],
                      np.float32)
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], bool)
    loss = listwise.distillation_loss(scores, mask, scores, mask)
    entropies = []
    for s, valid in zip(scores.astype(np.float64), mask):
      p = np.exp(s[valid]) / np.sum(np.exp(s[valid]))
      entropies.append(-np.sum(p * np.log(p)))
    self.assertAllClose(loss, entropies)
    self.assertAllClose(loss[1], np.log(2.0))

  def test_empty_and_single_item_sets_are_zero(self):
    teacher = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]],
                       np.float32)
    teacher_mask = np.array([[0, 0, 0], [1, 1, 0], [0, 1, 1]], bool)
    mask = np.array([[1, 1, 1], [0, 0, 1], [0, 1, 0]], bool)
    logits_var = tf.Variable([[1e4, -1e4, 0.0], [1.0, 2.0, 3.0],
                              [5.0, 6.0, 7.0]])
    with tf.GradientTape() as tape:
      loss = listwise.distillation_loss(teacher, teacher_mask, logits_var,
                                        mask, label_smoothing=0.3)
    self.assertAllEqual(loss, [0.0, 0.0, 0.0])
    self.assertAllEqual(tape.gradient(loss, logits_var), np.zeros((3, 3)))

  def test_teacher_gets_no_gradient_and_outside_set_is_ignored(self):
    teacher = tf.Variable([[1.0, 2.0, -np.inf, 0.5]])
    logits = tf.Variable([[0.3, 1e4, np.nan, -1e4]])
    teacher_mask = [[1, 1, 0, 1]]
    mask = [[1, 1, 1, 1]]
    with tf.GradientTape(persistent=True) as tape:
      loss = listwise.distillation_loss(teacher, teacher_mask, logits, mask,
                                        temperature=2.0, label_smoothing=0.1)
    self.assertTrue(np.all(np.isfinite(loss)))
    self.assertIsNone(tape.gradient(loss, teacher))
    gradient = tape.gradient(loss, logits).numpy()
    self.assertTrue(np.all(np.isfinite(gradient)))
    self.assertEqual(gradient[0, 2], 0.0)
    clean = np.array([[0.3, 1e4, 0.0, -1e4]], np.float32)
    self.assertAllClose(
        loss, _np_distillation_loss([[1.0, 2.0, 0.0, 0.5]], teacher_mask,
                                    clean, mask, 2.0, 0.1), rtol=1e-5)

  @parameterized.parameters((0.0, 0.0), (-1.0, 0.0), (1.0, -0.1), (1.0, 1.0))
  def test_invalid_parameters(self, temperature, label_smoothing):
    with self.assertRaises(ValueError):
      listwise.distillation_loss([[1.0]], [[1]], [[1.0]], [[1]],
                                 temperature, label_smoothing)
    with self.assertRaises(ValueError):
      losses.ListwiseDistillationLoss(temperature, label_smoothing)


class LogQCorrectionTest(tf.test.TestCase):

  def test_subtracts_log_q_where_selected(self):
    logits = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]], np.float32)
    log_q = np.array([[np.log(0.1), np.log(0.2), -np.inf],
                      [np.log(0.5), 0.0, np.log(0.25)]], np.float32)
    correct = np.array([[1, 1, 0], [0, 1, 1]], bool)
    expected = np.where(correct, logits - log_q, logits)
    self.assertAllClose(listwise.log_q_correction(logits, log_q, correct),
                        expected)
    # log q = -inf (q = 0) where not corrected leaves the logit untouched.
    self.assertAllEqual(
        listwise.log_q_correction(logits, log_q, correct)[0, 2], 3.0)

  def test_corrected_logits_feed_the_loss(self):
    logits_var = tf.Variable([[1.0, 0.0, 0.0]])
    log_q = np.log([[1.0, 0.5, 0.25]]).astype(np.float32)
    with tf.GradientTape() as tape:
      corrected = listwise.log_q_correction(logits_var, log_q,
                                            [[False, True, True]])
      loss = listwise.revised_softmax_loss([[1, 0, 0]], corrected,
                                           [[1, 1, 1]])
    expected = np.log(np.e + 2.0 + 4.0) - 1.0
    self.assertAllClose(loss, [expected])
    self.assertTrue(np.all(np.isfinite(tape.gradient(loss, logits_var))))


class KerasLossTest(tf.test.TestCase, parameterized.TestCase):

  def _softmax_inputs(self):
    y_true = np.where(MASK, LABELS, -1.0).astype(np.float32)
    return y_true, LOGITS

  @parameterized.named_parameters(
      ("revised", True, listwise.revised_softmax_loss),
      ("plain", False, listwise.multi_positive_softmax_loss))
  def test_softmax_is_mean_of_per_list(self, revised, loss_fn):
    y_true, y_pred = self._softmax_inputs()
    loss = losses.ListwiseSoftmaxLoss(revised=revised)
    per_list = loss_fn(LABELS, LOGITS, MASK)
    self.assertAllClose(loss(y_true, y_pred), tf.reduce_mean(per_list))
    # Integer labels work too; lists without positives count as 0.
    self.assertAllClose(loss(y_true.astype(np.int64), y_pred),
                        np.sum(_np_softmax_loss(LABELS, LOGITS, MASK,
                                                revised)) / len(LABELS))
    weights = np.arange(len(LABELS), dtype=np.float32)
    self.assertAllClose(loss(y_true, y_pred, sample_weight=weights),
                        np.sum(per_list * weights) / len(LABELS))

  def test_distillation_is_mean_of_per_list(self):
    teacher = np.array([[1.0, 0.0, -np.inf, 2.0], [-np.inf] * 4,
                        [0.5, np.nan, 0.7, np.inf]], np.float32)
    logits = np.array([[0.1, 0.2, 0.3, 0.4], [1.0, 2.0, 3.0, 4.0],
                       [1e4, 0.0, -1e4, 0.0]], np.float32)
    in_set = np.isfinite(teacher)
    loss = losses.ListwiseDistillationLoss(temperature=2.0,
                                           label_smoothing=0.1)
    expected = _np_distillation_loss(np.where(in_set, teacher, 0.0), in_set,
                                     logits, in_set, 2.0, 0.1)
    self.assertAllClose(loss(teacher, logits), np.mean(expected), rtol=1e-5)
    per_list = losses.ListwiseDistillationLoss(
        2.0, 0.1, reduction=tf.keras.losses.Reduction.NONE)(teacher, logits)
    self.assertAllClose(per_list, expected, rtol=1e-5)

  @parameterized.named_parameters(
      ("softmax", losses.ListwiseSoftmaxLoss(revised=False, name="plain")),
      ("distillation", losses.ListwiseDistillationLoss(
          temperature=0.5, label_smoothing=0.2)))
  def test_serialization_round_trip(self, loss):
    y_true, y_pred = self._softmax_inputs()
    if isinstance(loss, losses.ListwiseDistillationLoss):
      y_true = np.where(MASK, LOGITS[::-1], -np.inf).astype(np.float32)
    serialized = tf.keras.losses.serialize(loss)
    restored = tf.keras.losses.deserialize(serialized)
    self.assertIsInstance(restored, type(loss))
    self.assertEqual(restored.get_config(), loss.get_config())
    self.assertAllClose(restored(y_true, y_pred), loss(y_true, y_pred))
    from_config = type(loss).from_config(loss.get_config())
    self.assertEqual(from_config.get_config(), loss.get_config())
    self.assertAllClose(from_config(y_true, y_pred), loss(y_true, y_pred))

  def test_config_values(self):
    self.assertEqual(
        losses.ListwiseSoftmaxLoss().get_config(),
        {"reduction": "sum_over_batch_size", "name": "listwise_softmax_loss",
         "revised": True})
    config = losses.ListwiseDistillationLoss(2.0, 0.1).get_config()
    self.assertEqual(config["temperature"], 2.0)
    self.assertEqual(config["label_smoothing"], 0.1)

  def test_compiled_model_reports_the_loss(self):
    y_true, _ = self._softmax_inputs()
    inputs = np.random.default_rng(5).standard_normal(
        (len(y_true), 3)).astype(np.float32)
    model = tf.keras.Sequential([tf.keras.layers.Dense(y_true.shape[1])])
    loss = keras_losses.ListwiseSoftmaxLoss()
    # Eager: tracing Keras' own step function takes ~10 s here.
    model.compile(loss=loss, run_eagerly=True)
    reported = model.evaluate(inputs, y_true, batch_size=len(y_true),
                              verbose=0)
    self.assertAllClose(reported, loss(y_true, model(inputs)), rtol=1e-5)

  @parameterized.named_parameters(
      ("softmax", losses.ListwiseSoftmaxLoss()),
      ("distillation", losses.ListwiseDistillationLoss(temperature=2.0)))
  def test_graph_mode(self, loss):
    y_true, y_pred = self._softmax_inputs()
    if isinstance(loss, losses.ListwiseDistillationLoss):
      y_true = np.where(MASK, LOGITS[::-1], -np.inf).astype(np.float32)
    graph_loss = tf.function(loss)
    self.assertAllClose(graph_loss(tf.constant(y_true), tf.constant(y_pred)),
                        loss(y_true, y_pred))


if __name__ == "__main__":
  tf.test.main()


def _np_teacher_logits(scores, in_set, transform) -> np.ndarray:
  """teacher_logits, list by list: z-scores, or minus the number above."""
  out = np.zeros(scores.shape, np.float64)
  for b in range(scores.shape[0]):
    values = scores[b][in_set[b]].astype(np.float64)
    if not values.size:
      continue
    if transform == "standardize":
      std = values.std()
      out[b][in_set[b]] = (values - values.mean()) / std if std else 0.0
    else:
      out[b][in_set[b]] = [-(values > v).sum() for v in values]
  return out


def _np_in_batch_loss(labels, logits, mask, cross, ids) -> np.ndarray:
  """Per-list reference of the in-batch softmax, one positive at a time."""
  labels, logits = np.asarray(labels), np.asarray(logits, np.float64)
  mask, cross = np.asarray(mask, bool), np.asarray(cross, np.float64)
  positive = mask & (labels > 0)
  out = []
  for b in range(len(labels)):
    own = set(ids[b][mask[b]])
    negatives = [cross[b, c, j] for c in range(len(labels)) if c != b
                 for j in range(labels.shape[1])
                 if positive[c, j] and ids[c][j] not in own]
    terms = [_np_logsumexp(np.append(negatives, logits[b, p])) - logits[b, p]
             for p in np.flatnonzero(positive[b])]
    out.append(np.mean(terms) if terms else 0.0)
  return np.array(out)


def test_in_batch_softmax_matches_numpy():
  rng = np.random.default_rng(7)
  batch, size = 5, 6
  labels = (rng.random((batch, size)) < 0.4).astype(np.float32)
  labels[3] = 0.0                                  # a list without positives
  mask = rng.random((batch, size)) < 0.85
  # Few distinct ids, so lists share items and accidental hits occur.
  ids = rng.integers(0, 9, (batch, size))
  cross = rng.normal(size=(batch, batch, size)).astype(np.float32)
  logits = np.stack([cross[b, b] for b in range(batch)])
  # The loss takes every query's scores of the batch's positives only.
  positives = np.argwhere(mask & (labels > 0))
  np.testing.assert_array_equal(
      listwise.batch_positives(labels, mask).numpy(), positives)
  got = listwise.in_batch_softmax_loss(
      labels, logits, mask, cross[:, positives[:, 0], positives[:, 1]], ids)
  np.testing.assert_allclose(
      got.numpy(), _np_in_batch_loss(labels, logits, mask, cross, ids),
      rtol=1e-5, atol=1e-6)
  assert got.numpy()[3] == 0.0


def test_in_batch_softmax_never_uses_an_item_of_the_own_list():
  # Both lists click item 1: neither is the other's negative, so no list
  # has a negative and both losses are 0.
  labels = np.array([[1.0, 0.0], [1.0, 0.0]], np.float32)
  ids = np.array([[1, 2], [1, 3]])
  cross = np.full((2, 2), 5.0, np.float32)
  got = listwise.in_batch_softmax_loss(labels, np.zeros((2, 2), np.float32),
                                       np.ones((2, 2), bool), cross, ids)
  np.testing.assert_array_equal(got.numpy(), [0.0, 0.0])
