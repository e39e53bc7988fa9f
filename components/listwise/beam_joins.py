"""Beam DoFns that join per user (profile, attribution) and per request (lists, eval sets)."""

import apache_beam as beam

from components.listwise import attribution
from components.listwise import encode
from components.listwise import lists
from components.listwise import params as params_lib
from components.listwise import records
from components.listwise import report as report_lib
from components.listwise import sampling
from components.listwise import split as split_lib
from components.listwise.beam_rows import QUARANTINE, count
from components.raw_logs import contract as c
from components.raw_logs import faults

ATTRIBUTED = "attributed"
EVAL_CANDIDATES = "eval_candidates"


class JoinUser(beam.DoFn):
  """(user_id, {requests, users, purchases}) -> (request_id, RequestData).

  Adds the profile (or defaults) to each request and attributes the user's
  out-of-scene purchases; outputs ATTRIBUTED (request_id, item_id) and
  COUNTS, the profile's coercion among them.
  """

  def __init__(self, window_s: int):
    self._window_s = window_s

  def process(self, element):
    user_id, joined = element
    requests = list(joined["requests"])
    profile = next(iter(joined["users"]), None)
    purchases = list(joined["purchases"])
    pairs, missed = attribution.attribute_purchases(
        [(r.ts, r.request_id) for r in requests], purchases, self._window_s)
    if pairs:
      yield count(report_lib.ATTRIBUTION, "attributed", len(pairs))
    if missed:
      yield count(report_lib.ATTRIBUTION, "not_attributed", missed)
    for request_id, item_id in pairs:
      yield beam.pvalue.TaggedOutput(ATTRIBUTED, (request_id, item_id))
    if profile is not None and profile.coercion:
      yield count(c.USERS, report_lib.coercion_key(profile.coercion))
    for r in requests:
      data = lists.RequestData(r.request_id, user_id, r.query, r.ts,
                               r.history)
      if profile is not None:
        data.age_bucket = profile.age_bucket
        data.gender = profile.gender
        data.purchase_power = profile.purchase_power
      yield r.request_id, (r.origin, data)


class JoinRequest(beam.DoFn):
  """(request_id, {ctx, imp, cand, attr}) -> RequestData with its rows.

  Impressions and candidates of no valid request are quarantined as
  unknown_request; a request with no valid impression as empty_request
  (its candidates as unknown_request).
  """

  def process(self, element):
    _, joined = element
    contexts = list(joined["ctx"])
    impressions = list(joined["imp"])
    candidates = list(joined["cand"])
    if not contexts or not impressions:
      for chunk in impressions + candidates:
        yield from _quarantine(chunk, faults.UNKNOWN_REQUEST)
      if contexts:
        origin, data = contexts[0]
        yield count(c.REQUESTS, report_lib.quarantine_key(
            faults.EMPTY_REQUEST))
        yield beam.pvalue.TaggedOutput(QUARANTINE, records.Quarantined(
            c.REQUESTS, origin, faults.EMPTY_REQUEST,
            {c.REQUEST_ID: data.request_id, c.USER_ID: data.user_id}))
      return
    _, data = contexts[0]
    data.impressions = [
        lists.Impression(item, score, exposed, position, clicked, purchased)
        for chunk in sorted(impressions, key=_chunk_order)
        for item, score, exposed, position, clicked, purchased in zip(
            chunk.columns[c.ITEM_ID], chunk.columns[c.FINE_SCORE],
            chunk.columns[c.EXPOSED], chunk.columns[c.POSITION],
            chunk.columns[c.CLICKED], chunk.columns[c.PURCHASED])]
    data.logged_candidates = [
        (item, score)
        for chunk in sorted(candidates, key=_chunk_order)
        for item, score in zip(
            chunk.columns[c.ITEM_ID],
            chunk.columns.get(c.FINE_SCORE, [None] * len(chunk)))]
    data.attributed = sorted(joined["attr"])
    yield count(c.REQUESTS, report_lib.USED)
    yield count(c.IMPRESSIONS, report_lib.USED, len(data.impressions))
    for chunk in impressions + candidates:
      for coercion, n in chunk.coerced.items():
        yield count(chunk.table, report_lib.coercion_key(coercion), n)
    if data.logged_candidates:
      yield count(c.CANDIDATES, report_lib.USED, len(data.logged_candidates))
    yield data


def _chunk_order(chunk: records.RowChunk):
  return chunk.file, chunk.rows[0]


def _quarantine(chunk: records.RowChunk, reason: str):
  yield count(chunk.table, report_lib.quarantine_key(reason), len(chunk))
  for row in chunk.quarantine(reason):
    yield beam.pvalue.TaggedOutput(QUARANTINE, row)


def minute_of_request(data: lists.RequestData):
  return split_lib.minute_of(data.ts), 1


def train_item_stats(data: lists.RequestData, cuts: split_lib.Cuts):
  """(item_id, (exposed, clicked, purchased)) of a train request's items."""
  if cuts.split_of(data.ts) == split_lib.TRAIN:
    yield from lists.request_item_stats(data).items()


def train_period_sale(sale, cuts: split_lib.Cuts):
  """(item_id, 1) of a transaction (item_id, ts) made in the train period."""
  item, ts = sale
  if cuts.split_of(ts) == split_lib.TRAIN:
    yield item, 1


def train_query_counts(data: lists.RequestData, cuts: split_lib.Cuts,
                       catalog: lists.Catalog):
  """The query counts a train request adds (lists.request_query_counts)."""
  if cuts.split_of(data.ts) == split_lib.TRAIN:
    yield from lists.request_query_counts(data, catalog).items()


def is_valid_with_candidates(data: lists.RequestData,
                             cuts: split_lib.Cuts) -> bool:
  return (cuts.split_of(data.ts) == split_lib.VALID
          and bool(data.logged_candidates))


def catalog_examples(catalog: lists.Catalog, item_stats: lists.ItemStats,
                     params: params_lib.ListwiseParams,
                     item_sales: lists.ItemSales):
  """The catalog split's serialized examples (lists.catalog_lists)."""
  for values in lists.catalog_lists(catalog, item_stats, params, item_sales):
    yield encode.train_example(values)


class BuildExamples(beam.DoFn):
  """RequestData -> (split, serialized list example); EVAL_CANDIDATES too.

  A validation request also gives (VALID_CANDIDATES, chunk example) for
  each chunk of its candidate set, when it has a logged set or no
  validation request has one (the stand-in). Side inputs: the catalog
  (item_id -> features), the train item statistics, the split cuts, the
  train-period sales, the train query counts and the number of validation
  requests with a logged candidate set. Samplers are built once per worker
  per side input.
  """

  def __init__(self, params: params_lib.ListwiseParams):
    self._params = params
    self._source = None
    self._samplers = None
    self._counts = None

  def _get_samplers(self, catalog, item_stats, item_sales, query_counts):
    if (self._source is None or self._source[0] is not catalog
        or self._source[1] is not item_stats
        or self._source[2] is not item_sales
        or self._source[3] is not query_counts):
      ids = list(catalog)
      counts = [item_stats.get(i, (0,))[0] for i in ids]
      self._samplers = (
          sampling.NegativeSampler(ids, counts, self._params.alpha,
                                   self._params.count_smoothing),
          sampling.NegativeSampler(ids, counts, 0.0, 1.0))
      self._counts = lists.TrainCounts.of(catalog, item_stats, item_sales,
                                          query_counts)
      self._source = (catalog, item_stats, item_sales, query_counts)
    return self._samplers

  def process(self, data: lists.RequestData, catalog, item_stats, cuts,
              item_sales, query_counts, valid_logged):
    negatives, uniform = self._get_samplers(catalog, item_stats, item_sales,
                                            query_counts)
    split = cuts.split_of(data.ts)
    values, stats = lists.build_list(data, catalog, negatives, self._params,
                                     item_stats, split == split_lib.TRAIN,
                                     item_sales)
    yield count(report_lib.LISTS, split)
    for kind, n in stats.counts().items():
      if n:
        yield count(report_lib.LISTS, kind, n)
    yield split, encode.train_example(values)
    if split == split_lib.EVAL:
      eval_values = lists.build_eval_candidates(
          data, uniform, self._counts, catalog, self._params)
      yield beam.pvalue.TaggedOutput(EVAL_CANDIDATES,
                                     encode.eval_example(eval_values))
    elif split == split_lib.VALID and (data.logged_candidates
                                       or not valid_logged):
      yield count(report_lib.LISTS, "valid_candidate_sets")
      for chunk in lists.valid_candidate_lists(data, uniform, self._counts,
                                               catalog, self._params):
        yield count(report_lib.LISTS, split_lib.VALID_CANDIDATES)
        yield split_lib.VALID_CANDIDATES, encode.train_example(chunk)
