"""Tests of the towers, task, model, run_fn and exported signatures, on generated logs through Transform."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer import fn_args_utils

from components.listwise import encode
from models import features as f
from models import hparams as hparams_lib
from models import losses
from models import model as model_lib
from models import serving
from models import trainer
from models import training
from models.layers import head as head_lib
from models.layers import pooling
from models.layers import towers
from models.losses import listwise
from models.tasks import multi_objective
from testing import batches
from tfx_pipeline import run_result

VOCAB = batches.VOCAB


def _task(**overrides):
  """The task of HParams' values, the in-batch softmax, logQ correction and
  the teacher transform off unless asked for."""
  return model_lib.task_from(hparams_lib.HParams(), **{
      "w_in_batch": 0.0, "log_q_correction": False,
      "teacher_transform": "none", **overrides})


def _transformed_batch(batch=3, list_size=5, seed=0):
  rng = np.random.default_rng(seed)
  x = lambda key: f.transformed_name(key)
  mask = np.ones((batch, list_size), np.int64)
  mask[0, 3:] = 0
  return {
      **batches.tower_features(rng, mask),
      x(f.MASK): mask,
      x(f.LABEL_EXPOSURE): np.array([[1, 1, 0, 0, 0]] * batch) * mask,
      x(f.LABEL_CLICK): np.array([[1, 0, 0, 0, 0]] * batch) * mask,
      x(f.LABEL_PURCHASE): np.array([[0, 0, 0, 0, 0], [1, 0, 0, 0, 0],
                                     [0, 1, 0, 0, 0]])[:batch] * mask,
      x(f.FINE_SCORE): rng.normal(size=(batch, list_size)).astype(np.float32),
      x(f.FINE_SCORE_MASK): np.array([[1, 1, 1, 0, 0]] * batch),
      x(f.SAMPLING_LOG_Q): np.zeros((batch, list_size), np.float32),
      x(f.SAMPLE_TYPE): np.array([[1, 1, 2, 4, 4]] * batch) * mask,
  }


def test_masked_mean_pooling_matches_numpy():
  embeddings = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
  ids = np.array([[5, 0, 7], [0, 0, 0]])
  got = pooling.MaskedMeanPooling()(embeddings, ids).numpy()
  np.testing.assert_allclose(got[0], (embeddings[0, 0] + embeddings[0, 2]) / 2)
  np.testing.assert_allclose(got[1], np.zeros(4))


@pytest.mark.parametrize("tower_cls", [towers.QueryTower, towers.ItemTower])
def test_towers_round_trip_through_serialization(tower_cls):
  tf.keras.utils.set_random_seed(1)
  tower = tower_cls(VOCAB, feature_dim=8, hidden_dim=16, embedding_dim=6,
                    embedding_l2=1e-5, dropout=0.1, id_dropout=0.1)
  batch = _transformed_batch()
  out = tower(batch).numpy()
  assert np.allclose(np.linalg.norm(out, axis=-1), 1.0, atol=1e-5)
  config = tf.keras.layers.serialize(tower)
  clone = tf.keras.layers.deserialize(config)
  clone(batch)
  clone.set_weights(tower.get_weights())
  assert clone.get_config() == tower.get_config()
  np.testing.assert_allclose(clone(batch).numpy(), out, rtol=1e-6)


def test_item_tower_equals_the_mlp_over_concatenated_embeddings():
  # The item tower splits the first MLP layer by feature; the result and
  # the gradients are those of the MLP over the concatenated embeddings.
  tf.keras.utils.set_random_seed(4)
  tower = towers.ItemTower(VOCAB, feature_dim=8, hidden_dim=16,
                           embedding_dim=6, embedding_l2=0.0, dropout=0.0,
                           id_dropout=0.0)
  batch = _transformed_batch()

  def concatenated(inputs):
    tables = {f.ITEM_ID: tower.item, **tower.attributes}
    parts = [tables[key](inputs[f.transformed_name(key)])
             for key in towers.ITEM_FEATURES] + [
                 tf.stack([inputs[f.transformed_name(key)]
                           for key in towers.ITEM_DENSE_FEATURES], axis=-1)]
    return tf.math.l2_normalize(tower.mlp(tf.concat(parts, axis=-1)), -1)

  weights = tf.constant(np.random.default_rng(6).normal(size=(3, 5, 6)),
                        tf.float32)
  outputs, gradients = [], []
  for fn in (tower, concatenated):
    with tf.GradientTape() as tape:
      out = fn(batch)
      loss = tf.reduce_sum(out * weights)
    outputs.append(out.numpy())
    gradients.append([tf.convert_to_tensor(g).numpy() for g in
                      tape.gradient(loss, tower.trainable_variables)])
  assert outputs[0].shape == (3, 5, 6)
  np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-5, atol=1e-6)
  for got, expected in zip(*gradients):
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
  flat = {key: tf.reshape(value, [-1]) for key, value in batch.items()
          if value.ndim == 2 and value.shape[1] == 5}
  np.testing.assert_allclose(tower(flat).numpy(),
                             outputs[0].reshape(15, 6), rtol=1e-6)


def test_task_round_trip_and_loss_composition():
  task = _task(w_exposure=0.0, w_click=0.0, w_purchase=1.0,
               w_distillation=0.0)
  clone = tf.keras.layers.deserialize(tf.keras.layers.serialize(task))
  assert clone.get_config() == task.get_config()
  batch = _transformed_batch()
  logits = tf.constant(np.random.default_rng(3).normal(size=(3, 5)),
                       tf.float32)
  # Purchase only: per-list revised softmax, mean over the 3 lists; list 0
  # has no purchase and contributes 0.
  s = logits.numpy()
  expected = np.mean([0.0,
                      -np.log(np.exp(s[1, 0]) / np.exp(s[1]).sum()),
                      -np.log(np.exp(s[2, 1]) / np.exp(s[2]).sum())])
  assert float(task(batch, logits)) == pytest.approx(expected, rel=1e-5)
  assert float(clone(batch, logits)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("config", [
    {}, dict(revised_softmax=False), dict(distill_unexposed=False),
    dict(log_q_correction=True, label_smoothing=0.3,
         distillation_temperature=2.0),
    dict(excluded_sample_types=[f.SAMPLE_UNEXPOSED, f.SAMPLE_OUT_OF_SCENE]),
])
def test_task_loss_equals_the_weighted_keras_losses(config):
  # The task computes the three softmax losses in one call over stacked
  # labels; the result is the weighted sum of one Keras loss per objective.
  batch = _transformed_batch(batch=3, list_size=5, seed=7)
  rng = np.random.default_rng(8)
  for key in (f.LABEL_EXPOSURE, f.LABEL_CLICK, f.LABEL_PURCHASE):
    batch[f.transformed_name(key)] = rng.integers(
        0, 2, (3, 5)) * batch[f.transformed_name(f.MASK)]
  batch[f.transformed_name(f.SAMPLE_TYPE)] = rng.integers(
      1, 5, (3, 5)) * batch[f.transformed_name(f.MASK)]
  batch[f.transformed_name(f.SAMPLING_LOG_Q)] = rng.normal(
      size=(3, 5)).astype(np.float32)
  logits = tf.constant(rng.normal(size=(3, 5)), tf.float32)
  weights = dict(w_exposure=0.2, w_click=0.5, w_purchase=1.0,
                 w_distillation=0.5)
  task = _task(**weights, **config)
  softmax = losses.ListwiseSoftmaxLoss(
      revised=config.get("revised_softmax", True))
  distill = losses.ListwiseDistillationLoss(
      temperature=config.get("distillation_temperature", 1.0),
      label_smoothing=config.get("label_smoothing", 0.1))
  valid = task.valid(batch)
  softmax_logits = task.softmax_logits(batch, logits)
  expected = 0.0
  for key, weight in ((f.LABEL_EXPOSURE, 0.2), (f.LABEL_CLICK, 0.5),
                      (f.LABEL_PURCHASE, 1.0)):
    labels = tf.where(valid, tf.cast(batch[f.transformed_name(key)],
                                     tf.float32), -1.0)
    expected += weight * float(softmax(labels, softmax_logits))
  teacher = tf.where(task.distillation_set(batch),
                     batch[f.transformed_name(f.FINE_SCORE)], -np.inf)
  expected += 0.5 * float(distill(teacher, logits))
  assert float(task(batch, logits, training=True)) == pytest.approx(
      expected, rel=1e-6)


def test_log_q_correction_shifts_random_negatives_only():
  batch = _transformed_batch()
  batch[f.transformed_name(f.SAMPLING_LOG_Q)] = np.array(
      [[0.0, 0.0, 0.0, -2.0, -3.0]] * 3, np.float32)
  logits = tf.zeros((3, 5))
  plain = _task()
  corrected = _task(log_q_correction=True)
  np.testing.assert_allclose(plain.softmax_logits(batch, logits), 0.0)
  # sample types 1 1 2 4 4: the two random negatives get 0 - log q.
  np.testing.assert_allclose(corrected.softmax_logits(batch, logits)[1],
                             [0.0, 0.0, 0.0, 2.0, 3.0])
  # A candidate negative (type 6) is corrected as well.
  candidates = dict(batch)
  candidates[f.transformed_name(f.SAMPLE_TYPE)] = np.array(
      [[1, 1, 2, 6, 4]] * 3)
  np.testing.assert_allclose(corrected.softmax_logits(candidates, logits)[1],
                             [0.0, 0.0, 0.0, 2.0, 3.0])
  # Purchase-only loss of list 1: the positive (entry 0, logit 0) against
  # the negatives 1..4 with corrected logits 0, 0, 2, 3.
  only_purchase = _task(w_exposure=0.0, w_click=0.0, w_distillation=0.0,
                        log_q_correction=True)
  list1 = -np.log(1.0 / (1.0 + 1.0 + 1.0 + np.exp(2.0) + np.exp(3.0)))
  # List 2's positive is entry 1: the same logits against the same values.
  list2 = list1
  assert float(only_purchase(batch, logits)) == pytest.approx(
      (0.0 + list1 + list2) / 3, rel=1e-5)


def test_distillation_set_follows_config():
  batch = _transformed_batch()
  both = _task(distill_unexposed=True)
  exposed = _task(distill_unexposed=False)
  # sample types 1 1 2 4 4, fine score on the first 3, list 0 masks 3..4.
  np.testing.assert_array_equal(both.distillation_set(batch).numpy()[1],
                                [True, True, True, False, False])
  np.testing.assert_array_equal(exposed.distillation_set(batch).numpy()[1],
                                [True, True, False, False, False])


def test_excluded_sample_types_are_padding_for_every_loss():
  batch = _transformed_batch()
  # List 1: types exposed, exposed, out-of-scene, random, random; its only
  # purchase is the out-of-scene entry. List 2 buys entry 1 (exposed).
  batch[f.transformed_name(f.SAMPLE_TYPE)] = np.array(
      [[1, 1, 3, 4, 4]] * 3) * batch[f.transformed_name(f.MASK)]
  batch[f.transformed_name(f.LABEL_PURCHASE)] = np.array(
      [[0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 1, 0, 0, 0]])
  s = np.random.default_rng(5).normal(size=(3, 5))
  logits = tf.constant(s, tf.float32)
  purchase_only = dict(w_exposure=0.0, w_click=0.0, w_distillation=0.0)
  task = _task(excluded_sample_types=[f.SAMPLE_OUT_OF_SCENE],
               **purchase_only)
  # List 1 has no purchase left; list 2's positive (entry 1) is against
  # entries 0, 3 and 4: entry 2 is excluded like padding.
  list2 = -np.log(np.exp(s[2, 1]) / np.exp(s[2, [0, 1, 3, 4]]).sum())
  assert float(task(batch, logits)) == pytest.approx(list2 / 3, rel=1e-5)
  # The same as the default task on lists where entry 2 is padding.
  padded = dict(batch)
  padded[f.transformed_name(f.MASK)] = batch[
      f.transformed_name(f.MASK)] * np.array([1, 1, 0, 1, 1])
  everything = _task(excluded_sample_types=[f.SAMPLE_OUT_OF_SCENE])
  assert float(everything(batch, logits)) == pytest.approx(
      float(_task()(padded, logits)), rel=1e-6)
  clone = tf.keras.layers.deserialize(tf.keras.layers.serialize(task))
  assert clone.get_config() == task.get_config()
  assert float(clone(batch, logits)) == pytest.approx(list2 / 3, rel=1e-5)
  with pytest.raises(ValueError, match="unknown sample types"):
    _task(excluded_sample_types=[9])


def test_unexposed_exclusion_also_leaves_the_distillation_set():
  batch = _transformed_batch()
  task = _task(distill_unexposed=True,
               excluded_sample_types=[f.SAMPLE_UNEXPOSED])
  # sample types 1 1 2 4 4, fine score on the first 3.
  np.testing.assert_array_equal(task.distillation_set(batch).numpy()[1],
                                [True, True, False, False, False])
  np.testing.assert_array_equal(task.valid(batch).numpy()[1],
                                [True, True, False, True, True])


@pytest.mark.parametrize("unexposed,out_of_scene,expected", [
    (True, True, ()),
    (False, True, (f.SAMPLE_UNEXPOSED,)),
    (True, False, (f.SAMPLE_OUT_OF_SCENE,)),
    (False, False, (f.SAMPLE_UNEXPOSED, f.SAMPLE_OUT_OF_SCENE)),
])
def test_hparams_name_the_excluded_sample_types(unexposed, out_of_scene,
                                                expected):
  hparams = hparams_lib.HParams(train_on_unexposed=unexposed,
                                train_on_out_of_scene=out_of_scene)
  assert hparams.excluded_sample_types == expected
  assert model_lib.CoarseRankingModel(
      towers.VocabSizes(**VOCAB), hparams).task.get_config()[
          "excluded_sample_types"] == sorted(expected)


def test_hparams_custom_config_round_trip():
  hparams = hparams_lib.HParams(w_distillation=0.0, revised_softmax=False)
  assert hparams_lib.HParams.from_custom_config(
      hparams.to_custom_config()) == hparams
  with pytest.raises(ValueError, match="unknown hyperparameters"):
    hparams_lib.HParams.from_custom_config({"hparams": {"nope": 1}})
  with pytest.raises(ValueError, match="temperature"):
    hparams_lib.HParams(temperature=0.0)


@pytest.fixture(scope="module")
def transformed(pushed, tmp_path_factory):
  """The shared small run's Transform outputs and eval candidate sets."""
  result = pushed.result
  xf = lambda split: os.path.join(result.split(
      run_result.TRANSFORM, "transformed_examples", split), "*")
  return {"root": str(tmp_path_factory.mktemp("model")),
          "train": xf("train"), "eval": xf("eval"),
          "valid_candidates": xf(f.VALID_CANDIDATES_SPLIT),
          "raw_valid_candidates": os.path.join(result.split(
              run_result.EXAMPLE_GEN, "examples",
              f.VALID_CANDIDATES_SPLIT), "*"),
          "graph": result.transform_graph,
          "eval_sets": os.path.join(result.split(
              run_result.EXAMPLE_GEN, "eval_candidates", "eval"), "*")}


def _fn_args(transformed, out, hparams, steps):
  return fn_args_utils.FnArgs(
      train_files=[transformed["train"]], eval_files=[transformed["eval"]],
      transform_output=transformed["graph"],
      serving_model_dir=os.path.join(out, "serving"),
      model_run_dir=os.path.join(out, "logs"), train_steps=steps,
      eval_steps=2, custom_config=hparams.to_custom_config(),
      data_accessor=training.local_data_accessor())


def _eval_sets(pattern):
  return [encode.decode(r.numpy()) for r in tf.data.TFRecordDataset(
      glob.glob(pattern), compression_type="GZIP")]


def _hitrate(sets, score_fn, k):
  """Σ |TopK ∩ purchases| / Σ |purchases| over eval sets, in NumPy."""
  hits = total = 0
  for s in sets:
    bought = np.maximum(np.array(s[f.CAND_PURCHASE_IN_SCENE]),
                        np.array(s[f.CAND_PURCHASE_OUT_OF_SCENE]))
    if not bought.any():
      continue
    scores = score_fn(s)
    top = np.argsort(-scores, kind="stable")[:k]
    hits += bought[top].sum()
    total += bought.sum()
  return hits / total


def _request(sets):
  return dict(
      user_id=tf.constant([s[f.USER_ID][0] for s in sets]),
      query=tf.constant([s[f.QUERY][0] for s in sets]),
      user_history=tf.constant([s[f.USER_HISTORY] for s in sets]),
      age_bucket=tf.constant([s[f.AGE_BUCKET][0] for s in sets], tf.int64),
      purchase_power=tf.constant([s[f.PURCHASE_POWER][0] for s in sets],
                                 tf.int64),
      gender=tf.constant([s[f.GENDER][0] for s in sets]))


@pytest.fixture(scope="module")
def trained(transformed):
  hparams = hparams_lib.HParams(batch_size=32, learning_rate=0.01)
  out = os.path.join(transformed["root"], "trained")
  args = _fn_args(transformed, out, hparams, steps=150)
  trainer.run_fn(args)
  return args, hparams


def test_training_lowers_the_loss(transformed):
  hparams = hparams_lib.HParams(batch_size=32, learning_rate=0.01)
  tf_transform_output = tft.TFTransformOutput(transformed["graph"])
  data = training.input_fn([transformed["train"]],
                           training.local_data_accessor(), tf_transform_output,
                           hparams.batch_size, shuffle=False)
  batches = list(data.take(4))
  model = training.build_model(tf_transform_output, hparams)
  before = np.mean([float(model.compute_loss(b)) for b in batches])
  model.fit(data.repeat(), steps_per_epoch=120, epochs=1, verbose=0)
  after = np.mean([float(model.compute_loss(b)) for b in batches])
  assert np.isfinite(before) and after < 0.8 * before, (before, after)


def test_trained_model_beats_random_hitrate(transformed, trained):
  args, _ = trained
  sets = _eval_sets(transformed["eval_sets"])
  assert len(sets) > 100
  loaded = tf.saved_model.load(args.serving_model_dir)
  serve = loaded.signatures[serving.SERVING_DEFAULT]

  def model_scores(s):
    request = _request([s])
    out = serve(candidate_item_ids=tf.constant([s[f.CAND_ITEM_ID]]),
                **request)
    return out[serving.SCORES].numpy()[0]

  rng = np.random.default_rng(0)
  k = 50
  random_rate = np.mean([_hitrate(sets, lambda s: rng.random(
      len(s[f.CAND_ITEM_ID])), k) for _ in range(5)])
  model_rate = _hitrate(sets, model_scores, k)
  assert model_rate > random_rate + 0.1, (model_rate, random_rate)
  assert os.listdir(args.model_run_dir)  # TensorBoard logs
  summary = training.read_training_summary(args.model_run_dir)
  assert summary["train_steps"] == 150
  assert np.isfinite(summary["train_loss"]) and np.isfinite(
      summary["val_loss"])


def test_exported_signatures_match_in_process_scores(transformed, trained):
  args, hparams = trained
  sets = _eval_sets(transformed["eval_sets"])[:3]
  n = min(len(s[f.CAND_ITEM_ID]) for s in sets)
  candidates = [s[f.CAND_ITEM_ID][:n - 2] + ["", "never-seen-item"]
                for s in sets]
  loaded = tf.saved_model.load(args.serving_model_dir)
  request = _request(sets)
  out = loaded.signatures[serving.SERVING_DEFAULT](
      candidate_item_ids=tf.constant(candidates), **request)
  scores = out[serving.SCORES].numpy()
  assert scores.shape == (3, n)
  assert np.all(np.isneginf(scores[:, -2]))
  assert np.all(np.isfinite(scores[:, :-2])) and np.all(
      np.isfinite(scores[:, -1]))
  k = min(n, hparams.top_k)
  order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
  np.testing.assert_allclose(out[serving.TOP_K_SCORES].numpy(),
                             np.take_along_axis(scores, order, axis=1),
                             rtol=1e-6)
  assert out[serving.TOP_K_INDICES].dtype == tf.int32

  # The embedding signatures give the two towers' part: <q, i> / T.
  query = loaded.signatures[serving.QUERY_EMBEDDING](**request)[
      serving.QUERY_EMBEDDING].numpy()
  items = loaded.signatures[serving.ITEM_EMBEDDING](
      item_ids=tf.constant(sum(candidates, [])))[
          serving.ITEM_EMBEDDING].numpy().reshape(3, n, -1)
  np.testing.assert_allclose(np.linalg.norm(query, axis=1), 1.0, atol=1e-5)
  assert items.shape == (3, n, query.shape[1])


def test_served_scores_are_the_model_s_on_the_same_candidates(transformed):
  """Train/serve consistency: serving_default, fed raw ids and context,
  scores what the trained model scores on the transformed examples of the
  same requests and candidates (towers, head and its match features)."""
  hparams = hparams_lib.HParams(batch_size=32, learning_rate=0.01)
  out = os.path.join(transformed["root"], "consistency")
  args = _fn_args(transformed, out, hparams, steps=60)
  model, summary = training.fit(args, training.build_model, hparams)
  # The towers' weight the checkpoint choice took is the model's, and the
  # export keeps any other: set one to see it served.
  assert summary["tower_weight"] == float(model.head.tower_weight.numpy())
  model.head.tower_weight.assign(0.25)
  tf_transform_output = tft.TFTransformOutput(transformed["graph"])
  items = training.read_catalog(args.train_files, args.data_accessor,
                                tf_transform_output)
  serving.export(model, tf_transform_output, hparams, items,
                 args.serving_model_dir)
  serve = tf.saved_model.load(args.serving_model_dir).signatures[
      serving.SERVING_DEFAULT]
  contexts = {e[f.REQUEST_ID][0]: e for e in _eval_sets(
      transformed["raw_valid_candidates"])}
  batch = next(iter(training.input_fn(
      [transformed["valid_candidates"]], args.data_accessor,
      tf_transform_output, batch_size=8, shuffle=False)))
  assert model.head is not None
  expected = model(batch).numpy()
  xf = lambda key: batch[f.transformed_name(key)].numpy()
  keys = xf(f.ITEM_KEY)
  for row, request_id in enumerate(xf(f.REQUEST_ID)):
    valid = xf(f.MASK)[row] == 1
    got = serve(candidate_item_ids=tf.constant([keys[row][valid]]),
                **_request([contexts[request_id.decode()]]))
    np.testing.assert_allclose(got[serving.SCORES].numpy()[0],
                               expected[row][valid], rtol=1e-4, atol=1e-4)


def test_too_many_candidates_is_an_invalid_argument(transformed, trained):
  args, _ = trained
  loaded = tf.saved_model.load(args.serving_model_dir)
  sets = _eval_sets(transformed["eval_sets"])[:1]
  limit = hparams_lib.HParams().max_candidates
  too_many = [[f"i{k}" for k in range(limit + 1)]]
  with pytest.raises(tf.errors.InvalidArgumentError, match="candidates"):
    loaded.signatures[serving.SERVING_DEFAULT](
        candidate_item_ids=tf.constant(too_many), **_request(sets))


@pytest.mark.parametrize("name", ["query", "user_history", "age_bucket",
                                  "purchase_power", "gender",
                                  "candidate_item_ids"])
def test_an_input_with_another_batch_size_is_named(transformed, trained,
                                                   name):
  """As TF Serving would answer; the local server refuses it before."""
  args, _ = trained
  loaded = tf.saved_model.load(args.serving_model_dir)
  sets = _eval_sets(transformed["eval_sets"])[:1]
  inputs = {**_request(sets), "candidate_item_ids": tf.constant(
      [sets[0][f.CAND_ITEM_ID]])}
  inputs[name] = tf.concat([inputs[name]] * 2, axis=0)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=f"{name} and user_id batch sizes differ"):
    loaded.signatures[serving.SERVING_DEFAULT](**inputs)
  if name != "candidate_item_ids":
    del inputs["candidate_item_ids"]
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=f"{name} and user_id batch sizes differ"):
      loaded.signatures[serving.QUERY_EMBEDDING](**inputs)


def test_item_tower_runs_once_per_distinct_item_with_the_same_result():
  tf.keras.utils.set_random_seed(2)
  hparams = hparams_lib.HParams(feature_dim=8, hidden_dim=16,
                                embedding_dim=6)
  model = model_lib.CoarseRankingModel(towers.VocabSizes(**VOCAB), hparams)
  batch = _transformed_batch()
  # Item attributes are per item: give repeated ids the same attributes.
  ids = batch[f.transformed_name(f.ITEM_ID)]
  for key, size in ((f.CATEGORY, 5), (f.BRAND, 6), (f.PRICE_BUCKET, 4)):
    batch[f.transformed_name(key)] = ids % size
  direct = model.item_tower(batch).numpy()
  np.testing.assert_allclose(model.list_item_embeddings(batch).numpy(),
                             direct, rtol=1e-5, atol=1e-6)


def test_list_metrics_update_only_outside_training():
  task = _task()
  batch = _transformed_batch()
  logits = tf.constant(np.random.default_rng(5).normal(size=(3, 5)),
                       tf.float32)
  task(batch, logits, training=True)
  hitrate = next(m for m in task.metrics
                 if m.name == "purchase_hitrate_at_10")
  assert float(hitrate.result()) == 0.0  # nothing accumulated yet
  task(batch, logits, training=False)
  # Lists 1 and 2 have a purchase within 5 <= 10 entries: both hit.
  assert float(hitrate.result()) == pytest.approx(1.0)


# Transformed context features: one row per request, the rest are lists.
_CONTEXT = {f.transformed_name(k) for k in (
    f.USER_ID, f.GENDER, f.AGE_BUCKET, f.PURCHASE_POWER, f.QUERY_TOKENS,
    f.USER_HISTORY, f.IN_TRAIN_COUNTS, f.REQUEST_ID)}


def _with_entries_appended(batch, extra):
  """Every list of `batch` followed by the same `extra` entries (dict of
  list features `[num_extra]`), unlabelled."""
  size = len(batch[f.transformed_name(f.MASK)])
  out = {}
  for key, value in batch.items():
    value = np.asarray(value)
    if key in _CONTEXT:
      out[key] = value
      continue
    tail = np.asarray(extra[key])
    if key in {f.transformed_name(k) for k in f.LABELS}:
      tail = np.zeros_like(tail)
    out[key] = np.concatenate([value, np.tile(tail, (size, 1))], axis=1)
  return {k: tf.constant(v) for k, v in out.items()}


def test_in_batch_weight_adds_the_in_batch_softmax_of_the_full_scores(
    transformed):
  hparams = hparams_lib.HParams(batch_size=16, w_in_batch=0.5)
  tf_transform_output = tft.TFTransformOutput(transformed["graph"])
  accessor = training.local_data_accessor()
  batch = next(iter(training.input_fn(
      [transformed["train"]], accessor, tf_transform_output,
      hparams.batch_size, shuffle=False)))
  items = training.read_catalog([transformed["train"]], accessor,
                                tf_transform_output)
  model = training.build_model(tf_transform_output, hparams,
                               training.match_tables([transformed["train"]],
                                                     accessor,
                                                     tf_transform_output,
                                                     items))
  assert model.head is not None
  with_in_batch = float(model.compute_loss(batch))
  model.task.w_in_batch = 0.0
  without = float(model.compute_loss(batch))
  # Every query's full score (towers and head) of the batch's clicked
  # entries, by the model's own list scoring: each list followed by them,
  # unlabelled, so its profile (and what it leaves out) is unchanged.
  xf = lambda key: np.asarray(batch[f.transformed_name(key)])
  valid = model.task.valid(batch).numpy()
  positives = np.argwhere(valid & (xf(f.LABEL_CLICK) == 1))
  extra = {key: np.asarray(value)[positives[:, 0], positives[:, 1]]
           for key, value in batch.items() if key not in _CONTEXT}
  scores = model(_with_entries_appended(batch, extra)).numpy()
  list_size = xf(f.MASK).shape[1]
  logits, cross = scores[:, :list_size], scores[:, list_size:]
  np.testing.assert_allclose(logits, model(batch).numpy(), rtol=1e-5,
                             atol=1e-5)
  in_batch = listwise.in_batch_softmax_loss(
      xf(f.LABEL_CLICK), logits, valid, cross, xf(f.ITEM_ID))
  assert float(np.mean(in_batch)) > 0
  np.testing.assert_allclose(with_in_batch - without,
                             0.5 * float(np.mean(in_batch)), rtol=1e-4)


def test_the_task_takes_every_default_from_hparams():
  hparams = hparams_lib.HParams()
  config = model_lib.task_from(hparams).get_config()
  for name in ("w_exposure", "w_click", "w_purchase", "w_distillation",
               "w_in_batch", "distillation_temperature", "label_smoothing",
               "distill_unexposed", "revised_softmax", "log_q_correction",
               "teacher_transform"):
    assert config[name] == getattr(hparams, name), name
  with pytest.raises(TypeError):
    multi_objective.MultiObjectiveListwiseTask()  # pylint: disable=no-value-for-parameter


def test_the_towers_and_the_head_take_every_size_from_hparams():
  hparams = hparams_lib.HParams(feature_dim=5, hidden_dim=7, embedding_dim=3,
                                embedding_l2=1e-5, dropout=0.2,
                                id_dropout=0.1, head_hidden_dim=9)
  for tower in towers.build_towers(towers.VocabSizes(**VOCAB), hparams):
    config = tower.get_config()
    for name in ("feature_dim", "hidden_dim", "embedding_dim", "embedding_l2",
                 "dropout", "id_dropout"):
      assert config[name] == getattr(hparams, name), name
  for cls in (towers.QueryTower, towers.ItemTower):
    with pytest.raises(TypeError):
      cls(VOCAB)  # pylint: disable=missing-kwoa
  with pytest.raises(TypeError):
    head_lib.ScoreHead()  # pylint: disable=no-value-for-parameter


def test_the_task_distils_from_the_transformed_teacher():
  batch = _transformed_batch()
  logits = tf.constant(np.random.default_rng(9).normal(size=(3, 5)),
                       tf.float32)
  only = dict(w_exposure=0.0, w_click=0.0, w_purchase=0.0,
              w_distillation=1.0)
  standardized = _task(teacher_transform="standardize", **only)
  # The same loss as the untransformed teacher on z-scores of each list's
  # distillation set.
  in_set = standardized.distillation_set(batch).numpy()
  scores = batch[f.transformed_name(f.FINE_SCORE)].astype(np.float64)
  z = np.zeros_like(scores)
  for b in range(3):
    values = scores[b][in_set[b]]
    z[b][in_set[b]] = (values - values.mean()) / values.std()
  by_hand = dict(batch)
  by_hand[f.transformed_name(f.FINE_SCORE)] = z.astype(np.float32)
  assert float(standardized(batch, logits)) == pytest.approx(
      float(_task(**only)(by_hand, logits)), rel=1e-5)


def test_the_head_adds_to_the_two_tower_score():
  tf.keras.utils.set_random_seed(3)
  rng = np.random.default_rng(3)
  hparams = hparams_lib.HParams(feature_dim=8, hidden_dim=16,
                                embedding_dim=6)
  model = model_lib.CoarseRankingModel(towers.VocabSizes(**VOCAB), hparams,
                                       batches.match_tables(rng))
  batch = _transformed_batch()
  queries = model.query_tower(batch)
  items = model.list_item_embeddings(batch)
  dot = model.score(queries, items).numpy()
  with_head = model(batch).numpy()
  profiles = model.match.profiles(batch)
  head = model.head_score(profiles, batch).numpy()
  np.testing.assert_allclose(with_head, dot + head, rtol=1e-5, atol=1e-5)
  assert np.abs(head).max() > 0
  # The head reads the match features and the item numbers.
  features = model.match.features(
      profiles, batch[f.transformed_name(f.CATEGORY)],
      batch[f.transformed_name(f.BRAND)],
      batch[f.transformed_name(f.LOG_PRICE)]).numpy()
  numbers = np.stack([batch[f.transformed_name(k)]
                      for k in model_lib.HEAD_ITEM_FEATURES], axis=-1)
  # The head takes the per-candidate features with the item numbers, and
  # the request's own (history, query support) once.
  np.testing.assert_allclose(
      head, model.head(np.concatenate([features[..., :5], numbers], -1),
                       features[:, 0, 5:]).numpy(), rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(features[:, :1, 5:].repeat(5, axis=1),
                                features[..., 5:])
  # Without tables, or with match_head off, there is no head.
  assert model_lib.CoarseRankingModel(towers.VocabSizes(**VOCAB),
                                      hparams).head is None
  assert model_lib.CoarseRankingModel(
      towers.VocabSizes(**VOCAB),
      hparams_lib.HParams(match_head=False),
      batches.match_tables(rng)).head is None
