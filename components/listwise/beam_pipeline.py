"""The listwise example building graph: raw logs in, examples, eval sets, quarantine and report out."""

import dataclasses
import json
import logging
import os
import time
from typing import Callable, Dict, List, Mapping, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
import pyarrow as pa

from components import beam_direct
from components.listwise import beam_joins
from components.listwise import beam_rows
from components.listwise import lists
from components.listwise import params as params_lib
from components.listwise import report as report_lib
from components.listwise import split as split_lib
from components.raw_logs import contract as c
from components.raw_logs import files as log_files

EXAMPLES_FILE = "data_tfrecord"
QUARANTINE_FILE = "quarantine"
REPORT_FILE = "report.json"


@dataclasses.dataclass(frozen=True)
class OutputPaths:
  """Where the graph writes: one folder per split, quarantine, report."""
  train: str
  valid: str
  eval: str
  catalog: str
  valid_candidates: str
  eval_candidates: str
  quarantine: str
  report: str

  @classmethod
  def under(cls, root: str) -> "OutputPaths":
    """Every output in a folder of its own name under `root`."""
    return cls(**{field.name: os.path.join(root, field.name)
                  for field in dataclasses.fields(cls)})

  def split(self, name: str) -> str:
    return getattr(self, name)


def _read(p: beam.Pipeline, logs_dir: str, table: str,
          table_files: List[log_files.LogFile], batch_rows: int,
          item_ids=None):
  """Reads and checks one table; returns its tagged outputs."""
  side = {} if item_ids is None else {"item_ids": item_ids}
  return (p
          | f"List{table}" >> beam.Create(table_files)
          | f"Reshuffle{table}" >> beam.Reshuffle()
          | f"Read{table}" >> beam.ParDo(beam_rows.ReadBatches(logs_dir,
                                                               batch_rows))
          | f"Check{table}" >> beam.ParDo(beam_rows.CheckRows(table), **side
                                          ).with_outputs(
                                              beam_rows.QUARANTINE,
                                              beam_rows.COUNTS,
                                              beam_rows.SALES, main="rows"))


def _keep_first(rows, table: str, count_used: bool = True):
  return (rows
          | f"Group{table}" >> beam.GroupByKey()
          | f"KeepFirst{table}" >> beam.ParDo(
              beam_rows.KeepFirst(table, count_used)).with_outputs(
                  beam_rows.QUARANTINE, beam_rows.COUNTS, main="rows"))


def build(p: beam.Pipeline, logs_dir: str,
          table_files: Dict[str, List[log_files.LogFile]],
          params: params_lib.ListwiseParams, out: OutputPaths,
          batch_rows: int = beam_rows.READ_BATCH_ROWS,
          skipped: Optional[Mapping[str, List[str]]] = None) -> None:
  """Adds the whole listwise stage to pipeline `p`.

  Args:
    p: the Beam pipeline.
    logs_dir: the raw logs directory (local path or filesystem URI).
    table_files: every table's Parquet files, schemas already checked.
    params: list building parameters.
    out: output locations.
    batch_rows: rows per Parquet read batch.
    skipped: table -> entries of its folder not read, for the report.
  """
  quarantine = []
  counts = [p | "SkippedFiles" >> beam.Create(
      report_lib.skipped_file_counts(skipped or {}))]

  def collect(result):
    quarantine.append(result[beam_rows.QUARANTINE])
    counts.append(result[beam_rows.COUNTS])
    return result["rows"]

  items = collect(_keep_first(collect(_read(
      p, logs_dir, c.ITEMS, table_files[c.ITEMS], batch_rows)), c.ITEMS))
  catalog = (items | "CatalogEntry" >> beam.MapTuple(lambda k, v: (k, v[1]))
             | "Catalog" >> beam.combiners.ToDict())
  item_ids = (catalog | "ItemIds" >> beam.Map(
      lambda d: pa.array(sorted(d), pa.string())))
  item_side = beam.pvalue.AsSingleton(item_ids)

  requests = collect(_keep_first(collect(_read(
      p, logs_dir, c.REQUESTS, table_files[c.REQUESTS], batch_rows)),
                                 c.REQUESTS, count_used=False))
  users = collect(_keep_first(collect(_read(
      p, logs_dir, c.USERS, table_files[c.USERS], batch_rows)), c.USERS))
  transactions = _read(p, logs_dir, c.TRANSACTIONS,
                       table_files[c.TRANSACTIONS], batch_rows, item_side)
  purchases = collect(transactions)
  impressions = collect(_read(p, logs_dir, c.IMPRESSIONS,
                              table_files[c.IMPRESSIONS], batch_rows,
                              item_side))
  candidates = collect(_read(p, logs_dir, c.CANDIDATES,
                             table_files[c.CANDIDATES], batch_rows,
                             item_side))

  by_user = (
      {"requests": requests | "RequestByUser" >> beam.MapTuple(
          lambda _, r: (r.user_id, r)),
       "users": users, "purchases": purchases}
      | "GroupByUser" >> beam.CoGroupByKey()
      | "JoinUser" >> beam.ParDo(beam_joins.JoinUser(
          params.attribution_window_s)).with_outputs(
              beam_joins.ATTRIBUTED, beam_rows.COUNTS, main="rows"))
  counts.append(by_user[beam_rows.COUNTS])

  joined = (
      {"ctx": by_user["rows"], "imp": impressions, "cand": candidates,
       "attr": by_user[beam_joins.ATTRIBUTED]}
      | "GroupByRequest" >> beam.CoGroupByKey()
      | "JoinRequest" >> beam.ParDo(beam_joins.JoinRequest()).with_outputs(
          beam_rows.QUARANTINE, beam_rows.COUNTS, main="rows"))
  request_data = collect(joined)

  cuts = (request_data
          | "Minute" >> beam.Map(beam_joins.minute_of_request)
          | "CountPerMinute" >> beam.CombinePerKey(sum)
          | "MinuteCounts" >> beam.combiners.ToDict()
          | "Cuts" >> beam.Map(split_lib.cuts, params.eval_share,
                               params.valid_share))
  cuts_side = beam.pvalue.AsSingleton(cuts)
  item_stats = beam.pvalue.AsSingleton(
      request_data
      | "TrainItemStats" >> beam.FlatMap(beam_joins.train_item_stats,
                                         cuts_side)
      | "SumItemStats" >> beam.CombinePerKey(lists.sum_stats)
      | "ItemStats" >> beam.combiners.ToDict())
  item_sales = beam.pvalue.AsSingleton(
      transactions[beam_rows.SALES]
      | "TrainPeriodSales" >> beam.FlatMap(beam_joins.train_period_sale,
                                           cuts_side)
      | "SumSales" >> beam.CombinePerKey(sum)
      | "ItemSales" >> beam.combiners.ToDict())
  catalog_side = beam.pvalue.AsSingleton(catalog)
  query_counts = beam.pvalue.AsSingleton(
      request_data
      | "TrainQueryCounts" >> beam.FlatMap(beam_joins.train_query_counts,
                                           cuts_side, catalog_side)
      | "SumQueryCounts" >> beam.CombinePerKey(sum)
      | "QueryCounts" >> beam.combiners.ToDict())
  valid_logged = beam.pvalue.AsSingleton(
      request_data
      | "ValidLogged" >> beam.Filter(beam_joins.is_valid_with_candidates,
                                     cuts_side)
      | "CountValidLogged" >> beam.combiners.Count.Globally())

  built = (request_data
           | "BuildExamples" >> beam.ParDo(
               beam_joins.BuildExamples(params), catalog_side, item_stats,
               cuts_side, item_sales, query_counts,
               valid_logged).with_outputs(
                   beam_joins.EVAL_CANDIDATES, beam_rows.COUNTS,
                   main="examples"))
  counts.append(built[beam_rows.COUNTS])
  for split in (*split_lib.SPLITS, split_lib.VALID_CANDIDATES):
    (built["examples"]
     | f"Select{split}" >> beam.Filter(lambda kv, s=split: kv[0] == s)
     | f"Value{split}" >> beam.Values()
     | f"Write{split}" >> beam.io.WriteToTFRecord(
         os.path.join(out.split(split), EXAMPLES_FILE),
         file_name_suffix=".gz"))
  catalog_lists = (catalog
                   | "CatalogLists" >> beam.FlatMap(
                       beam_joins.catalog_examples, item_stats, params,
                       item_sales))
  _ = (catalog_lists
       | "WriteCatalog" >> beam.io.WriteToTFRecord(
           os.path.join(out.catalog, EXAMPLES_FILE), file_name_suffix=".gz"))
  counts.append(catalog_lists
                | "CountCatalogLists" >> beam.combiners.Count.Globally()
                | "CatalogCount" >> beam.Map(
                    lambda n: ((report_lib.LISTS, split_lib.CATALOG), n)))
  _ = (built[beam_joins.EVAL_CANDIDATES]
       | "WriteEvalCandidates" >> beam.io.WriteToTFRecord(
           os.path.join(out.eval_candidates, EXAMPLES_FILE),
           file_name_suffix=".gz"))

  _ = (quarantine
       | "FlattenQuarantine" >> beam.Flatten()
       | "QuarantineJson" >> beam.Map(lambda q: q.to_json())
       | "WriteQuarantine" >> beam.io.WriteToText(
           os.path.join(out.quarantine, QUARANTINE_FILE),
           file_name_suffix=".jsonl"))
  _ = (counts
       | "FlattenCounts" >> beam.Flatten()
       | "SumCounts" >> beam.CombinePerKey(sum)
       | "AllCounts" >> beam.combiners.ToList()
       | "Report" >> beam.Map(
           lambda rows, split_cuts: report_lib.dumps(
               report_lib.build_report(rows, split_cuts)), cuts_side)
       | "WriteReport" >> beam.io.WriteToText(
           os.path.join(out.report, REPORT_FILE), shard_name_template=""))


def read_report(report_dir: str) -> dict:
  with FileSystems.open(os.path.join(report_dir, REPORT_FILE)) as f:
    return json.loads(f.read().decode("utf-8"))


def run(logs_dir: str, params: params_lib.ListwiseParams, out: OutputPaths,
        make_pipeline: Callable[[], beam.Pipeline] = beam.Pipeline,
        batch_rows: int = beam_rows.READ_BATCH_ROWS) -> dict:
  """Checks the logs' schemas, runs the stage and checks its report.

  Returns:
    The reconciliation report.

  Raises:
    LogSchemaError: a schema fault, before any data is read.
    QuarantineLimitError: a table quarantined too large a share of its rows.
    ReconciliationError: rows were lost (a bug).
  """
  start = time.time()
  beam_direct.use_size_based_runner_flush()
  logs = log_files.LogFiles(logs_dir)
  table_files = log_files.checked_table_files(logs)
  logging.info("listwise examples from %s: %s", logs_dir, ", ".join(
      f"{t} {len(f)} files" for t, f in table_files.items()))
  with make_pipeline() as p:
    build(p, logs_dir, table_files, params, out, batch_rows,
          {t: logs.skipped_entries(t) for t in table_files})
  report = read_report(out.report)
  logging.info("listwise examples done in %.1fs\n%s", time.time() - start,
               report_lib.format_report(report))
  report_lib.check(report, params.max_quarantine_share)
  return report
