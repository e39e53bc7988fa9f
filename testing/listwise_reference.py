"""A single-process pyarrow/pandas implementation of the listwise stage, to check and benchmark Beam against.

It shares only the per-request list builder and sampler with the Beam stage;
reading, fault finding, joins, attribution, the split and the counts are
done here independently, with pandas.
"""

import collections
import dataclasses
from typing import Dict, List

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from components.listwise import encode
from components.listwise import lists
from components.listwise import params as params_lib
from components.listwise import report as report_lib
from components.listwise import sampling
from components.listwise import split as split_lib
from components.raw_logs import coercions
from components.raw_logs import contract as c
from components.raw_logs import faults
from components.raw_logs import files as log_files

_FILE = "__file"
_ROW = "__row"
_COERCION = "__coercion"


@dataclasses.dataclass
class ReferenceOutput:
  """Serialized examples per split, eval candidate sets, quarantine, report."""
  examples: Dict[str, List[bytes]]
  eval_candidates: List[bytes]
  quarantine: pd.DataFrame  # columns: table, file, row, reason.
  report: dict


def _train_item_stats(impressions: pd.DataFrame, train_requests: set
                      ) -> Dict[str, tuple]:
  """(exposures, clicks, purchases) per item over the train requests.

  A request counts an item once, with the OR of its impressions' flags.
  """
  rows = impressions[impressions[c.REQUEST_ID].isin(train_requests)]
  flags = [c.EXPOSED, c.CLICKED, c.PURCHASED]
  per_request = rows.groupby([c.REQUEST_ID, c.ITEM_ID])[flags].any()
  per_request = per_request[per_request.any(axis=1)].astype(int)
  totals = per_request.groupby(level=c.ITEM_ID).sum()
  return {item: tuple(int(v) for v in row)
          for item, row in zip(totals.index, totals.to_numpy())}


def _train_sales(transactions: pd.DataFrame, cuts: split_lib.Cuts
                 ) -> Dict[str, int]:
  """Transactions per item, every scene, before the validation cut."""
  early = transactions[transactions[c.TS] < cuts.valid_ts]
  return {item: int(n) for item, n in
          early.groupby(c.ITEM_ID).size().items()}


def _train_query_counts(impressions: pd.DataFrame, requests: pd.DataFrame,
                        items: pd.DataFrame, train_requests: set
                        ) -> Dict[tuple, int]:
  """The query counts (lists.request_query_counts summed), with pandas."""
  rows = impressions[impressions[c.REQUEST_ID].isin(train_requests)]
  per_item = rows.groupby([c.REQUEST_ID, c.ITEM_ID])[
      [c.CLICKED, c.PURCHASED]].any()
  positive = per_item[per_item.any(axis=1)].reset_index()[
      [c.REQUEST_ID, c.ITEM_ID]]
  positive = positive.merge(items[[c.ITEM_ID, c.CATEGORY, c.BRAND]],
                            on=c.ITEM_ID)
  tokens = requests[[c.REQUEST_ID, c.QUERY]].assign(
      token=lambda d: d[c.QUERY].str.split().map(
          lambda t: list(dict.fromkeys(t)))).explode("token").dropna(
              subset=["token"])
  pairs = positive.merge(tokens[[c.REQUEST_ID, "token"]], on=c.REQUEST_ID)
  out: Dict[tuple, int] = {}
  for kind, column in ((lists.CATEGORY, c.CATEGORY), (lists.BRAND, c.BRAND)):
    for (token, value), n in pairs.groupby(["token", column]).size().items():
      out[(kind, token, value)] = int(n)
  for token, n in pairs.groupby("token").size().items():
    out[(lists.TOKEN, token)] = int(n)
  return out


class _Counts:

  def __init__(self):
    self.values = collections.Counter()
    self.quarantine: List[pd.DataFrame] = []

  def add(self, scope: str, kind: str, n: int) -> None:
    if n:
      self.values[(scope, kind)] += int(n)

  def quarantine_rows(self, table: str, frame: pd.DataFrame,
                      reason) -> None:
    if len(frame):
      reasons = (pd.Series(reason, index=frame.index)
                 if isinstance(reason, str) else reason)
      self.quarantine.append(pd.DataFrame({
          "table": table, "file": frame[_FILE].to_numpy(),
          "row": frame[_ROW].to_numpy(), "reason": reasons.to_numpy()}))
      for r, n in reasons.value_counts().items():
        self.add(table, report_lib.quarantine_key(r), n)


def _read_table(logs: log_files.LogFiles, table: str,
                table_files: List[log_files.LogFile],
                counts: _Counts) -> pd.DataFrame:
  """The valid rows of a table (row-local checks), with file and row."""
  frames = []
  for log_file in table_files:
    columns = log_files.columns_to_read(table, logs.schema(log_file))
    first = 0
    for batch in logs.batches(log_file, columns):
      reasons = faults.row_fault_reasons(table, batch)
      # Faulty rows leave with their file, row and reason only: every row
      # can be coerced.
      coerced, coercion = coercions.coerce(table, batch)
      frame = pa.Table.from_batches([coerced]).to_pandas()
      bad = ~np.asarray(pc.is_null(reasons))
      frame[_COERCION] = coercion.to_pylist()
      frame[_FILE] = log_file.name
      frame[_ROW] = np.arange(first, first + batch.num_rows)
      counts.add(table, report_lib.READ, batch.num_rows)
      counts.quarantine_rows(table, frame[bad],
                             pd.Series(reasons.to_pylist(),
                                       index=frame.index)[bad])
      frames.append(frame[~bad])
      first += batch.num_rows
  if not frames:
    schema = [col.name for col in c.TABLES[table].columns]
    return pd.DataFrame(columns=schema + [_COERCION, _FILE, _ROW])
  return pd.concat(frames, ignore_index=True)


def _keep_first(table: str, frame: pd.DataFrame, counts: _Counts
                ) -> pd.DataFrame:
  frame = frame.sort_values([_FILE, _ROW], kind="stable")
  repeated = frame.duplicated(c.TABLES[table].unique_key, keep="first")
  counts.quarantine_rows(table, frame[repeated], faults.DUPLICATE_KEY)
  return frame[~repeated]


def _drop(table: str, frame: pd.DataFrame, bad: np.ndarray, reason: str,
          counts: _Counts) -> pd.DataFrame:
  counts.quarantine_rows(table, frame[bad], reason)
  return frame[~bad]


def _attribute(requests: pd.DataFrame, transactions: pd.DataFrame,
               window_s: int, counts: _Counts) -> Dict[str, List[str]]:
  """request_id -> attributed item ids, by pandas merge_asof."""
  purchases = transactions[transactions[c.SCENE] != c.SEARCH_SCENE]
  out: Dict[str, List[str]] = collections.defaultdict(list)
  if purchases.empty:
    return out
  right = requests[[c.USER_ID, c.TS, c.REQUEST_ID]].sort_values(
      [c.TS, c.REQUEST_ID], kind="stable")
  left = purchases[[c.USER_ID, c.TS, c.ITEM_ID]].sort_values(
      c.TS, kind="stable")
  matched = pd.merge_asof(left, right.rename(columns={c.TS: "request_ts"}),
                          left_on=c.TS, right_on="request_ts",
                          by=c.USER_ID, direction="backward",
                          allow_exact_matches=False,
                          tolerance=int(window_s))
  hit = matched[c.REQUEST_ID].notna()
  counts.add(report_lib.ATTRIBUTION, "attributed", hit.sum())
  counts.add(report_lib.ATTRIBUTION, "not_attributed", (~hit).sum())
  for request_id, item_id in zip(matched[c.REQUEST_ID][hit],
                                 matched[c.ITEM_ID][hit]):
    out[request_id].append(item_id)
  return out


def _request_data(requests, users, impressions, candidates, attributed):
  """lists.RequestData for every request that has impressions."""
  profiles = users.set_index(c.USER_ID)
  imp_groups = impressions.groupby(c.REQUEST_ID, sort=False).indices
  cand_groups = candidates.groupby(c.REQUEST_ID, sort=False).indices
  imp_cols = [impressions[k].to_numpy() for k in (
      c.ITEM_ID, c.FINE_SCORE, c.EXPOSED, c.POSITION, c.CLICKED,
      c.PURCHASED)]
  cand_items = candidates[c.ITEM_ID].to_numpy()
  cand_scores = (candidates[c.FINE_SCORE].to_numpy()
                 if c.FINE_SCORE in candidates else
                 np.full(len(candidates), np.nan))
  out = []
  for row in requests.itertuples(index=False):
    request_id = getattr(row, c.REQUEST_ID)
    data = lists.RequestData(request_id, getattr(row, c.USER_ID),
                             getattr(row, c.QUERY), int(getattr(row, c.TS)),
                             tuple(getattr(row, c.USER_HISTORY)))
    user = getattr(row, c.USER_ID)
    if user in profiles.index:
      profile = profiles.loc[user]
      data.age_bucket = int(profile[c.AGE_BUCKET])
      data.gender = profile[c.GENDER]
      data.purchase_power = int(profile[c.PURCHASE_POWER])
    index = imp_groups[request_id]
    data.impressions = [
        lists.Impression(item, float(score), bool(exposed), int(position),
                         bool(clicked), bool(purchased))
        for item, score, exposed, position, clicked, purchased in zip(
            *(col[index] for col in imp_cols))]
    if request_id in cand_groups:
      index = cand_groups[request_id]
      data.logged_candidates = [
          (item, None if score is None or np.isnan(score) else float(score))
          for item, score in zip(cand_items[index], cand_scores[index])]
    data.attributed = sorted(attributed.get(request_id, ()))
    out.append(data)
  return out


def _of_requests(table: str, read: Dict[str, pd.DataFrame],
                 requests: pd.DataFrame, counts: "_Counts") -> pd.DataFrame:
  """`table`'s rows in file order; those of no known request quarantined."""
  frame = read[table].sort_values([_FILE, _ROW], kind="stable")
  return _drop(table, frame,
               ~frame[c.REQUEST_ID].isin(set(requests[c.REQUEST_ID])
                                         ).to_numpy(),
               faults.UNKNOWN_REQUEST, counts)


def build_reference(logs_dir: str,
                    params: params_lib.ListwiseParams) -> ReferenceOutput:
  """Runs the whole listwise transformation in this process."""
  logs = log_files.LogFiles(logs_dir)
  table_files = log_files.checked_table_files(logs)
  counts = _Counts()
  read = {t: _read_table(logs, t, table_files[t], counts) for t in c.TABLES}

  items = _keep_first(c.ITEMS, read[c.ITEMS], counts)
  known_items = set(items[c.ITEM_ID])
  for table in (c.IMPRESSIONS, c.CANDIDATES, c.TRANSACTIONS):
    frame = read[table]
    read[table] = _drop(table, frame,
                        ~frame[c.ITEM_ID].isin(known_items).to_numpy(),
                        faults.UNKNOWN_ITEM, counts)
  requests = _keep_first(c.REQUESTS, read[c.REQUESTS], counts)
  users = _keep_first(c.USERS, read[c.USERS], counts)
  transactions = read[c.TRANSACTIONS]
  attributed = _attribute(requests, transactions,
                          params.attribution_window_s, counts)

  impressions = _of_requests(c.IMPRESSIONS, read, requests, counts)
  with_impressions = set(impressions[c.REQUEST_ID])
  requests = _drop(
      c.REQUESTS, requests,
      ~requests[c.REQUEST_ID].isin(with_impressions).to_numpy(),
      faults.EMPTY_REQUEST, counts)
  candidates = _of_requests(c.CANDIDATES, read, requests, counts)
  for table, frame in ((c.ITEMS, items), (c.USERS, users),
                       (c.TRANSACTIONS, transactions),
                       (c.REQUESTS, requests), (c.IMPRESSIONS, impressions),
                       (c.CANDIDATES, candidates)):
    counts.add(table, report_lib.USED, len(frame))
    for coercion, n in frame[_COERCION].value_counts().items():
      counts.add(table, report_lib.coercion_key(coercion), n)
  for (table, kind), n in report_lib.skipped_file_counts(
      {t: logs.skipped_entries(t) for t in c.TABLES}):
    counts.add(table, kind, n)

  data = _request_data(requests, users, impressions, candidates, attributed)
  minutes = collections.Counter(split_lib.minute_of(d.ts) for d in data)
  cuts = split_lib.cuts(minutes, params.eval_share, params.valid_share)
  item_stats = _train_item_stats(impressions, {
      d.request_id for d in data if cuts.split_of(d.ts) == split_lib.TRAIN})
  catalog = {item: (cat, brand, float(price)) for item, cat, brand, price in
             zip(items[c.ITEM_ID], items[c.CATEGORY], items[c.BRAND],
                 items[c.PRICE])}
  ids = list(catalog)
  item_counts = [item_stats.get(i, (0,))[0] for i in ids]
  negatives = sampling.NegativeSampler(ids, item_counts, params.alpha,
                                       params.count_smoothing)
  uniform = sampling.NegativeSampler(ids, item_counts, 0.0, 1.0)

  train_requests = {d.request_id for d in data
                    if cuts.split_of(d.ts) == split_lib.TRAIN}
  item_sales = _train_sales(transactions, cuts)
  train_counts = lists.TrainCounts(
      item_stats, item_sales,
      _train_query_counts(impressions, requests, items, train_requests),
      max(1, items[c.CATEGORY].nunique()), max(1, items[c.BRAND].nunique()))
  valid_logged = any(d.logged_candidates for d in data
                     if cuts.split_of(d.ts) == split_lib.VALID)

  examples = {s: [] for s in (*split_lib.SPLITS, split_lib.CATALOG,
                              split_lib.VALID_CANDIDATES)}
  eval_sets = []
  for d in data:
    split = cuts.split_of(d.ts)
    values, stats = lists.build_list(d, catalog, negatives, params,
                                     item_stats, split == split_lib.TRAIN,
                                     item_sales)
    counts.add(report_lib.LISTS, split, 1)
    for kind, n in stats.counts().items():
      counts.add(report_lib.LISTS, kind, n)
    examples[split].append(encode.train_example(values))
    if split == split_lib.EVAL:
      eval_sets.append(encode.eval_example(lists.build_eval_candidates(
          d, uniform, train_counts, catalog, params)))
    elif split == split_lib.VALID and (d.logged_candidates
                                       or not valid_logged):
      counts.add(report_lib.LISTS, "valid_candidate_sets", 1)
      chunks = [encode.train_example(v) for v in lists.valid_candidate_lists(
          d, uniform, train_counts, catalog, params)]
      counts.add(report_lib.LISTS, split_lib.VALID_CANDIDATES, len(chunks))
      examples[split_lib.VALID_CANDIDATES] += chunks
  examples[split_lib.CATALOG] = [
      encode.train_example(v)
      for v in lists.catalog_lists(catalog, item_stats, params, item_sales)]
  counts.add(report_lib.LISTS, split_lib.CATALOG,
             len(examples[split_lib.CATALOG]))
  quarantine = (pd.concat(counts.quarantine, ignore_index=True)
                if counts.quarantine else
                pd.DataFrame(columns=["table", "file", "row", "reason"]))
  return ReferenceOutput(examples, eval_sets, quarantine,
                         report_lib.build_report(counts.values.items(), cuts))

