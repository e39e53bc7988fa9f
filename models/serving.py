"""The exported SavedModel: serving signatures over raw features with catalog embeddings precomputed.

Signatures (DESIGN section 7; B requests, N candidates, H history items):

  serving_default: user_id, query, gender string [B]; age_bucket,
    purchase_power int64 [B]; user_history string [B, H];
    candidate_item_ids string [B, N] ("" pads) ->
    scores float32 [B, N] (-inf for padding), top_k_indices int32 [B, K],
    top_k_scores float32 [B, K], K = min(N, top_k).
  query_embedding: the context inputs -> query_embedding float32 [B, dim].
  item_embedding: item_ids string [N] -> item_embedding float32 [N, dim].

The Transform graph turns the raw context into ids. Every catalog item's
embedding is computed at export, from its id, attributes and statistics
(models/catalog.py), and found at serving by its raw id, so a request does no
item-tower work: an id outside the catalog gets the embedding of its hashed
out-of-vocabulary bucket, never an error. A model with a head also keeps each
catalog row's attributes and numbers, and scores the candidates' match
features given the request (models/layers/match.py) in the same call.
"""

import os
from typing import Dict, Iterable, List, Mapping, Sequence

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2

from models import catalog as catalog_lib
from models import features as f
from models import hparams as hparams_lib
from models import model as model_lib
from models import two_tower

SERVING_DEFAULT = "serving_default"
QUERY_EMBEDDING = "query_embedding"
ITEM_EMBEDDING = "item_embedding"
CANDIDATE_ITEM_IDS = "candidate_item_ids"
ITEM_IDS = "item_ids"
SCORES = "scores"
TOP_K_INDICES = "top_k_indices"
TOP_K_SCORES = "top_k_scores"

# Request inputs of the signatures: name -> (dtype, rank).
CONTEXT_INPUTS = {
    f.USER_ID: (tf.string, 1), f.QUERY: (tf.string, 1),
    f.GENDER: (tf.string, 1), f.AGE_BUCKET: (tf.int64, 1),
    f.PURCHASE_POWER: (tf.int64, 1), f.USER_HISTORY: (tf.string, 2),
}

# TF Serving replays these requests before serving a version.
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
WARMUP_CANDIDATES = 100

def _spec(dtype, rank, name):
  return tf.TensorSpec([None] * rank, dtype, name=name)


def _same_batch(inputs: Mapping[str, tf.Tensor]) -> List[tf.Operation]:
  """Assertions that every input has user_id's batch size, naming the input."""
  batch = tf.shape(inputs[f.USER_ID])[0]
  return [tf.debugging.assert_equal(
              tf.shape(value)[0], batch,
              message=f"{name} and {f.USER_ID} batch sizes differ")
          for name, value in sorted(inputs.items()) if name != f.USER_ID]


class ServingModule(tf.Module):
  """Holds the Transform layer, the query tower and the catalog's table."""

  def __init__(self, model: two_tower.TwoTowerModel, tf_transform_output,
               items: catalog_lib.Catalog, hparams: hparams_lib.HParams):
    super().__init__()
    self._transform = tf_transform_output.transform_features_layer()
    self._query_tower = model.query_tower
    self._temperature = model.temperature
    num_oov = catalog_lib.num_oov_buckets(tf_transform_output)
    self._item_table = tf.Variable(
        catalog_lib.embedding_table(model.item_tower, items, num_oov),
        trainable=False, name="item_embeddings")
    self._catalog = catalog_lib.CatalogLookup(items.item_ids, num_oov)
    self._match = getattr(model, "match", None)
    self._head = getattr(model, "head", None)
    if self._head is not None:
      # Each catalog row's attributes and numbers in two tables, so a
      # request gathers its candidates' twice.
      rows = items.rows(num_oov)
      column = lambda key: rows[f.transformed_name(key)]
      self._head_ids = tf.Variable(
          np.stack([column(k) for k in model_lib.HEAD_ITEM_IDS], axis=1),
          trainable=False, name="catalog_head_ids")
      self._head_numbers = tf.Variable(
          np.stack([column(k) for k in model_lib.HEAD_ITEM_NUMBERS],
                   axis=1).astype(np.float32),
          trainable=False, name="catalog_head_numbers")
    raw_spec = tf_transform_output.raw_feature_spec()
    self._raw_spec = raw_spec
    self._history_length = int(raw_spec[f.USER_HISTORY].shape[0])
    self._top_k = hparams.top_k
    self._max_candidates = hparams.max_candidates

  def _raw_features(self, context: Mapping[str, tf.Tensor]
                    ) -> Dict[str, tf.Tensor]:
    """Request inputs -> raw features shaped as Transform parsed them."""
    batch = tf.shape(context[f.USER_ID])[0]
    history = context[f.USER_HISTORY][:, :self._history_length]
    history = tf.pad(history, [[0, 0], [0, self._history_length
                                        - tf.shape(history)[1]]],
                     constant_values=f.PAD_STRING)
    raw = {}
    for key, spec in self._raw_spec.items():
      if key == f.USER_HISTORY:
        raw[key] = tf.reshape(history, [batch, self._history_length])
      elif key in context:
        raw[key] = tf.reshape(tf.cast(context[key], spec.dtype), [batch, 1])
      else:  # Label, list and id features Transform also reads: padding.
        pad = f.PAD_STRING if spec.dtype == tf.string else 0
        raw[key] = tf.fill([batch, spec.shape[0]],
                           tf.constant(pad, spec.dtype))
    return raw

  def _query(self, context: Mapping[str, tf.Tensor]) -> tf.Tensor:
    return self._query_tower(self._transform(self._raw_features(context)))

  def _scores(self, context: Mapping[str, tf.Tensor],
              candidate_item_ids: tf.Tensor) -> tf.Tensor:
    """`[B, N]` scores of the candidates (padding not masked yet)."""
    transformed = self._transform(self._raw_features(context))
    rows = self._catalog.rows(candidate_item_ids)
    scores = two_tower.scores(self._query_tower(transformed),
                              tf.gather(self._item_table, rows),
                              self._temperature)
    if self._head is None:
      return scores
    ids = tf.gather(self._head_ids, rows)
    numbers = tf.gather(self._head_numbers, rows)
    return self._head.combine(scores, model_lib.head_score(
        self._match, self._head, self._match.profiles(transformed),
        ids[..., 0], ids[..., 1], numbers[..., 0], numbers[..., 1:]))

  def _items(self, item_ids: tf.Tensor) -> tf.Tensor:
    return tf.gather(self._item_table, self._catalog.rows(item_ids))

  def serve(self, user_id, query, user_history, age_bucket, purchase_power,
            gender, candidate_item_ids) -> Dict[str, tf.Tensor]:
    context = {f.USER_ID: user_id, f.QUERY: query,
               f.USER_HISTORY: user_history, f.AGE_BUCKET: age_bucket,
               f.PURCHASE_POWER: purchase_power, f.GENDER: gender}
    num = tf.shape(candidate_item_ids)[1]
    checks = [tf.debugging.assert_less_equal(
        num, self._max_candidates,
        message=f"more than {self._max_candidates} candidates")]
    checks += _same_batch({**context, CANDIDATE_ITEM_IDS: candidate_item_ids})
    with tf.control_dependencies(checks):
      scores = self._scores(context, candidate_item_ids)
    scores = tf.where(tf.equal(candidate_item_ids, f.PAD_STRING),
                      tf.constant(-np.inf, scores.dtype), scores)
    top = tf.math.top_k(scores, k=tf.minimum(num, self._top_k))
    return {SCORES: scores, TOP_K_INDICES: top.indices,
            TOP_K_SCORES: top.values}

  def query_embedding(self, user_id, query, user_history, age_bucket,
                      purchase_power, gender) -> Dict[str, tf.Tensor]:
    context = {f.USER_ID: user_id, f.QUERY: query,
               f.USER_HISTORY: user_history, f.AGE_BUCKET: age_bucket,
               f.PURCHASE_POWER: purchase_power, f.GENDER: gender}
    with tf.control_dependencies(_same_batch(context)):
      return {QUERY_EMBEDDING: self._query(context)}

  def item_embedding(self, item_ids) -> Dict[str, tf.Tensor]:
    return {ITEM_EMBEDDING: self._items(item_ids)}


def signatures(module: ServingModule) -> Dict[str, tf.types.experimental.ConcreteFunction]:
  context = {k: _spec(dtype, rank, k)
             for k, (dtype, rank) in CONTEXT_INPUTS.items()}
  order = (f.USER_ID, f.QUERY, f.USER_HISTORY, f.AGE_BUCKET,
           f.PURCHASE_POWER, f.GENDER)
  serve = tf.function(module.serve).get_concrete_function(
      *(context[k] for k in order),
      _spec(tf.string, 2, CANDIDATE_ITEM_IDS))
  query = tf.function(module.query_embedding).get_concrete_function(
      *(context[k] for k in order))
  items = tf.function(module.item_embedding).get_concrete_function(
      _spec(tf.string, 1, ITEM_IDS))
  return {SERVING_DEFAULT: serve, QUERY_EMBEDDING: query,
          ITEM_EMBEDDING: items}


def table_initializers(function: tf.types.experimental.ConcreteFunction
                       ) -> List[str]:
  """Names of the table-initialising ops a function runs on every call.

  A lookup table created inside a traced function is filled by an op of that
  function, which re-reads its vocabulary file on each call (and fails once
  the file is gone); a table tracked by the SavedModel is filled once, when
  the model loads. Serving signatures must have none.
  """
  graph_def = function.graph.as_graph_def()
  nodes = list(graph_def.node) + [node for library in graph_def.library.function
                                  for node in library.node_def]
  return sorted(node.name for node in nodes
                if node.op.startswith("InitializeTable"))


def warmup_request(candidate_item_ids: Sequence[str]
                   ) -> predict_pb2.PredictRequest:
  """A serving_default request of one anonymous user over the candidates."""
  request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(
      signature_name=SERVING_DEFAULT))
  inputs = {f.USER_ID: [""], f.QUERY: [""], f.GENDER: [""],
            f.USER_HISTORY: [[""]], f.AGE_BUCKET: np.array([-1], np.int64),
            f.PURCHASE_POWER: np.array([-1], np.int64),
            CANDIDATE_ITEM_IDS: [list(candidate_item_ids)]}
  for name, value in inputs.items():
    request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
  return request


def write_warmup_requests(
    export_dir: str, requests: Iterable[predict_pb2.PredictRequest]) -> str:
  """Writes `requests` as the WARMUP_FILE (PredictionLogs) of a SavedModel.

  Args:
    export_dir: the SavedModel (or model version) folder.
    requests: the requests TF Serving replays before serving it.

  Returns:
    The path of the file written.
  """
  path = os.path.join(export_dir, WARMUP_FILE)
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.TFRecordWriter(path) as writer:
    for request in requests:
      log = prediction_log_pb2.PredictionLog(
          predict_log=prediction_log_pb2.PredictLog(request=request))
      writer.write(log.SerializeToString())
  return path


def export(model: two_tower.TwoTowerModel, tf_transform_output,
           hparams: hparams_lib.HParams, items: catalog_lib.Catalog,
           export_dir: str) -> None:
  """Writes the SavedModel with its signatures and warmup requests.

  Raises:
    ValueError: a signature would fill a lookup table on every call.
  """
  module = ServingModule(model, tf_transform_output, items, hparams)
  functions = signatures(module)
  for name, function in functions.items():
    initializers = table_initializers(function)
    if initializers:
      raise ValueError(
          f"signature {name!r} would fill lookup tables on every call "
          f"({', '.join(initializers)}): create tables outside traced "
          "functions so the SavedModel initialises them once at load")
  tf.saved_model.save(module, export_dir, signatures=functions)
  write_warmup_requests(export_dir, [warmup_request(
      [i.decode() for i in items.item_ids[:WARMUP_CANDIDATES]])])
