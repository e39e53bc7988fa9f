"""ScoreHead against its formula in NumPy: the split first layer is the same function as one layer over each candidate's features with its request's appended."""

import numpy as np

from models.layers import head as head_lib

BATCH, NUM, NUM_CANDIDATE, NUM_REQUEST, HIDDEN = 3, 5, 4, 2, 6


def _inputs(seed=0):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(BATCH, NUM, NUM_CANDIDATE)).astype(np.float32),
          rng.normal(size=(BATCH, NUM_REQUEST)).astype(np.float32))


def _built_head():
  head = head_lib.ScoreHead(hidden_dim=HIDDEN)
  head(*_inputs())
  rng = np.random.default_rng(1)
  # Random weights, biases included, so no term is zero by its initializer.
  for variable in head.trainable_variables:
    variable.assign(rng.normal(size=variable.shape).astype(np.float32))
  return head


def test_the_head_is_its_formula():
  head = _built_head()
  candidate, request = _inputs(seed=2)
  w_c, b_c = (v.numpy() for v in head.candidate_layer.weights)
  (w_r,) = (v.numpy() for v in head.request_layer.weights)
  (w_o,) = (v.numpy() for v in head.output_layer.weights)
  expected = np.zeros((BATCH, NUM))
  for b in range(BATCH):
    for n in range(NUM):
      pre = candidate[b, n] @ w_c + b_c + request[b] @ w_r
      expected[b, n] = pre[0] + np.maximum(pre[1:], 0.0) @ w_o[:, 0]
  np.testing.assert_allclose(head(candidate, request).numpy(), expected,
                             rtol=1e-5, atol=1e-5)


def test_the_split_equals_one_layer_over_the_appended_features():
  # w . x + v . relu(W x + b) over x = [candidate, request]: the request's
  # rows of W and w are the request layer's kernel.
  head = _built_head()
  candidate, request = _inputs(seed=3)
  kernel = np.concatenate([head.candidate_layer.kernel.numpy(),
                           head.request_layer.kernel.numpy()], axis=0)
  x = np.concatenate([candidate, np.repeat(request[:, None, :], NUM, 1)],
                     axis=-1)
  pre = x @ kernel + head.candidate_layer.bias.numpy()
  expected = pre[..., 0] + np.maximum(pre[..., 1:], 0.0) @ (
      head.output_layer.kernel.numpy()[:, 0])
  np.testing.assert_allclose(head(candidate, request).numpy(), expected,
                             rtol=1e-5, atol=1e-5)


def test_combine_weighs_the_towers():
  head = _built_head()
  two_tower = np.array([[1.0, -2.0]], np.float32)
  scores = np.array([[0.5, 0.25]], np.float32)
  np.testing.assert_allclose(head.combine(two_tower, scores).numpy(),
                             [[1.5, -1.75]])
  head.tower_weight.assign(0.25)
  np.testing.assert_allclose(head.combine(two_tower, scores).numpy(),
                             [[0.75, -0.25]])


def test_config_round_trip():
  head = _built_head()
  clone = head_lib.ScoreHead.from_config(head.get_config())
  assert clone.hidden_dim == HIDDEN
  candidate, request = _inputs(seed=4)
  clone(candidate, request)
  for target, source in zip(clone.weights, head.weights):
    target.assign(source)
  np.testing.assert_allclose(clone(candidate, request).numpy(),
                             head(candidate, request).numpy(), rtol=1e-6)
