"""Tests of the Beam listwise stage on hand-made logs: exact lists, quarantine, report, reference agreement."""

import glob
import json
import os
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from components.listwise import beam_pipeline
from components.listwise import encode
from components.listwise import params as params_lib
from testing import listwise_reference as reference
from components.listwise import report as report_lib
from components.listwise import split
from components.raw_logs import contract as c
from components.raw_logs import coercions
from components.raw_logs import faults
from components.raw_logs import files as log_files
from components.raw_logs import validate
from models import features as f

T0 = 1_790_812_800
DAY = 86_400
PARAMS = params_lib.ListwiseParams(list_size=8, num_unexposed=1,
                                   num_random=2, eval_share=0.25,
                                   valid_share=0.0, seed=4,
                                   max_quarantine_share=1.0)
NAN = float("nan")


def _write(logs, table, part, rows):
  schema = c.TABLES[table].arrow_schema()
  data = pa.Table.from_pylist(
      [dict(zip(schema.names, r)) for r in rows], schema=schema)
  os.makedirs(os.path.join(logs, table), exist_ok=True)
  pq.write_table(data, os.path.join(logs, table, f"part-{part}.parquet"))


def _imp(request, item, score, position=-1, clicked=False, purchased=False,
         exposed=None):
  exposed = position >= 0 if exposed is None else exposed
  return (request, item, score, exposed, position, clicked, purchased)


def make_logs(logs):
  """Hand-made logs with one of each fault; see the expectations below."""
  items = [(f"i{k}", f"cat{k % 2}", f"b{k}", 10.0 * k) for k in range(1, 7)]
  _write(logs, c.ITEMS, 0, items + [("i7", "cat1", "b7", NAN)])
  _write(logs, c.ITEMS, 1, [("i1", "cat9", "b9", 1.0),            # dup
                            ("i" * 2000, "cat1", "b8", 5.0),    # id_too_long
                            ("", "cat1", "b8", 5.0),            # empty_id
                            ("i8", "cat0", "b8", -2.0)])        # negative
  with open(os.path.join(logs, c.ITEMS, "notes.txt"), "w") as f:  # skipped
    f.write("not a table file")
  _write(logs, c.USERS, 0, [("u1", 2, "f", 3), ("u1", 5, "m", 1),  # dup
                            ("u2", 4, None, 2)])  # gender unknown, coerced
  _write(logs, c.REQUESTS, 0, [
      ("r1", "u1", "red shoes", T0, ["i6"]),
      ("r2", "u1", "shoes", T0 + 3600, []),
      ("r3", "u2", "tent", T0 + 7200, []),
      ("r4", "u2", "lamp", T0 + 2 * DAY, ["i1", "i2"])])
  _write(logs, c.REQUESTS, 1, [
      ("r2", "u1", "again", T0 + 3700, []),      # duplicate_key
      ("r5", None, "x", T0, []),                 # null_id
      ("r6", "u2", "empty", T0 + 100, []),       # empty_request
      ("r7", "u2", "long", T0, ["y" * 10_000]),  # id_too_long
      ("r8", "", "anonymous", T0, []),           # empty_id
      ("r9", "u1", "zero", 0, []),               # implausible_timestamp
      ("r10", "u2", "millis", T0 * 1000, [])])   # implausible_timestamp
  _write(logs, c.IMPRESSIONS, 0, [
      _imp("r1", "i1", 2.0, 0, purchased=True),  # click coerced from purchase
      _imp("r1", "i2", 1.0, 1),
      _imp("r1", "i3", 0.5),
      _imp("r1", "i4", 0.4),
      _imp("r2", "i2", 1.2, 0),
      _imp("r2", "i5", 0.7),
      _imp("r2", "i1", NAN, 1),                  # non_finite_score
      _imp("r2", "i3", 0.1, -1, exposed=True),   # inconsistent_position
      _imp("r3", "i3", 0.9, 0, clicked=True),
      _imp("r3", "i6", 0.2),
      _imp("r4", "i4", 0.8, 0),
      _imp("r4", "i99", 0.3),                    # unknown_item
      _imp("rX", "i1", 0.3),                     # unknown_request
      _imp("r2", "i6", 0.3, purchased=True),     # interaction_not_exposed
      _imp("r3", "", 0.1),                       # empty_id
      _imp("r9", "i1", 0.5, 0),                  # unknown_request
      _imp("r1", "i5", 0.2, clicked=None)])      # null_value
  _write(logs, c.TRANSACTIONS, 0, [
      ("u1", "i5", T0 + 3600 + 10, "cart"),      # -> r2 (latest of r1, r2)
      ("u1", "i6", T0 + 3600 + DAY + 5, "live"),  # outside the window
      ("u2", "i4", T0 + 7250, "recommend"),      # -> r3
      ("u1", "i1", T0 + 5, "search"),            # in-search: labels only
      ("u2", "i99", T0 + 7300, "cart"),          # unknown_item
      ("u" * 1025, "i1", T0, "cart"),            # id_too_long
      ("u1", "i2", 0, "cart"),                   # implausible_timestamp
      ("", "i1", T0, "cart")])                   # empty_id
  _write(logs, c.CANDIDATES, 0, [
      ("r4", "i4", 0.8), ("r4", "i1", 0.6), ("r4", "i2", None),
      ("rZ", "i1", 0.1),                         # unknown_request
      ("r6", "i2", 0.1),                         # request quarantined empty
      ("r4", "", 0.2)])                          # empty_id


EXPECTED_QUARANTINE = {
    ("items", "items/part-0.parquet", 6, "non_finite_price"),
    ("items", "items/part-1.parquet", 0, "duplicate_key"),
    ("items", "items/part-1.parquet", 1, "id_too_long"),
    ("items", "items/part-1.parquet", 2, "empty_id"),
    ("items", "items/part-1.parquet", 3, "negative_price"),
    ("users", "users/part-0.parquet", 1, "duplicate_key"),
    ("requests", "requests/part-1.parquet", 0, "duplicate_key"),
    ("requests", "requests/part-1.parquet", 1, "null_id"),
    ("requests", "requests/part-1.parquet", 2, "empty_request"),
    ("requests", "requests/part-1.parquet", 3, "id_too_long"),
    ("requests", "requests/part-1.parquet", 4, "empty_id"),
    ("requests", "requests/part-1.parquet", 5, "implausible_timestamp"),
    ("requests", "requests/part-1.parquet", 6, "implausible_timestamp"),
    ("impressions", "impressions/part-0.parquet", 6, "non_finite_score"),
    ("impressions", "impressions/part-0.parquet", 7, "inconsistent_position"),
    ("impressions", "impressions/part-0.parquet", 11, "unknown_item"),
    ("impressions", "impressions/part-0.parquet", 12, "unknown_request"),
    ("impressions", "impressions/part-0.parquet", 13,
     "interaction_not_exposed"),
    ("impressions", "impressions/part-0.parquet", 14, "empty_id"),
    ("impressions", "impressions/part-0.parquet", 15, "unknown_request"),
    ("impressions", "impressions/part-0.parquet", 16, "null_value"),
    ("transactions", "transactions/part-0.parquet", 4, "unknown_item"),
    ("transactions", "transactions/part-0.parquet", 5, "id_too_long"),
    ("transactions", "transactions/part-0.parquet", 6,
     "implausible_timestamp"),
    ("transactions", "transactions/part-0.parquet", 7, "empty_id"),
    ("candidates", "candidates/part-0.parquet", 3, "unknown_request"),
    ("candidates", "candidates/part-0.parquet", 4, "unknown_request"),
    ("candidates", "candidates/part-0.parquet", 5, "empty_id"),
}
# table: (read, used, quarantined)
EXPECTED_COUNTS = {"items": (11, 6, 5), "users": (3, 2, 1),
                   "requests": (11, 4, 7), "impressions": (17, 9, 8),
                   "transactions": (8, 4, 4), "candidates": (6, 3, 3)}
# Rows used that were coerced, and folder entries skipped, per table.
EXPECTED_COERCED = {"impressions": {"click_from_purchase": 1},
                    "users": {"unknown_profile_value": 1}}
EXPECTED_SKIPPED = {"items": 1}


def _paths(out):
  return beam_pipeline.OutputPaths.under(out)


def _records(folder):
  files = glob.glob(os.path.join(folder, "*"))
  return sorted(r.numpy() for r in
                tf.data.TFRecordDataset(files, compression_type="GZIP"))


def _by_request(serialized):
  return {e[f.REQUEST_ID][0]: e for e in map(encode.decode, serialized)}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  root = tmp_path_factory.mktemp("listwise")
  logs = str(root / "logs")
  make_logs(logs)
  out = _paths(str(root / "out"))
  report = beam_pipeline.run(logs, PARAMS, out, batch_rows=4)
  return logs, out, report


def test_report_reconciles_every_table(run):
  _, _, report = run
  for table, (read, used, quarantined) in EXPECTED_COUNTS.items():
    row = report["tables"][table]
    assert (row["read"], row["used"], row["quarantined"]) == (
        read, used, quarantined), table
    assert row["coerced_by_reason"] == EXPECTED_COERCED.get(table, {}), table
    assert row["skipped_files"] == EXPECTED_SKIPPED.get(table, 0), table
  # r4's logged candidate set gave its list two candidate negatives.
  assert report["lists"] == {"train": 3, "eval": 1, "catalog": 1,
                             "candidate_negatives": 2}
  assert report["attribution"] == {"attributed": 2, "not_attributed": 1}
  assert report["eval_cut_ts"] == (T0 + 2 * DAY) // 60 * 60
  assert report["valid_cut_ts"] == report["eval_cut_ts"]  # no validation


def test_quarantine_has_a_reason_per_row(run):
  _, out, _ = run
  lines = [json.loads(line) for path in glob.glob(
      os.path.join(out.quarantine, "*.jsonl")) for line in open(path)]
  assert {(q["table"], q["file"], q["row"], q["reason"])
          for q in lines} == EXPECTED_QUARANTINE
  nan_row = next(q for q in lines if q["reason"] == "non_finite_score")
  assert nan_row["values"][c.FINE_SCORE] == "nan"
  assert nan_row["values"][c.REQUEST_ID] == "r2"
  long_row = next(q for q in lines if q["reason"] == "id_too_long"
                  and q["table"] == c.REQUESTS)
  assert long_row["values"][c.USER_HISTORY] == ["y" * 64 + "... (10000 bytes)"]


def test_exact_lists(run):
  _, out, _ = run
  train = _by_request(_records(out.train))
  evals = _by_request(_records(out.eval))
  assert sorted(train) == ["r1", "r2", "r3"] and sorted(evals) == ["r4"]

  r1 = train["r1"]
  assert r1[f.ITEM_ID][:2] == ["i1", "i2"]
  assert r1[f.ITEM_ID][2] in ("i3", "i4")
  # The catalog left after i1..i4 is exactly {i5, i6}: both are drawn.
  assert sorted(r1[f.ITEM_ID][3:5]) == ["i5", "i6"]
  assert r1[f.ITEM_ID][5:] == ["", "", ""]
  assert r1[f.SAMPLE_TYPE] == [1, 1, 2, 4, 4, 0, 0, 0]
  assert r1[f.LABEL_PURCHASE] == [1, 0, 0, 0, 0, 0, 0, 0]
  assert r1[f.LABEL_CLICK] == [1, 0, 0, 0, 0, 0, 0, 0]
  assert r1[f.LABEL_EXPOSURE] == [1, 1, 0, 0, 0, 0, 0, 0]
  assert r1[f.AGE_BUCKET] == [2] and r1[f.GENDER] == ["f"]  # first u1 row
  assert r1[f.CATEGORY][:2] == ["cat1", "cat0"]  # i1 from part-0, not dup
  # Train statistics: i1 (1, 1, 1) from r1; i2 (2, 0, 0) from r1 and r2;
  # i3 (1, 1, 0) from r3. r1's own impressions are left out of its list.
  assert r1[f.ITEM_EXPOSURES][:3] == [0.0, 1.0,
                                      1.0 if r1[f.ITEM_ID][2] == "i3"
                                      else 0.0]
  assert r1[f.ITEM_CLICKS][:2] == [0.0, 0.0]
  assert r1[f.ITEM_PURCHASES][:2] == [0.0, 0.0]
  # r1 bought i1 (its one sale): left out too.
  assert r1[f.ITEM_SALES][:2] == [0.0, 0.0]
  assert r1[f.IN_TRAIN_COUNTS] == [1]

  r2 = train["r2"]  # i5 bought in "cart" 10 s after r2: attributed to r2.
  assert r2[f.ITEM_ID][:2] == ["i2", "i5"]
  assert r2[f.SAMPLE_TYPE][:4] == [1, 3, 4, 4]
  assert r2[f.LABEL_PURCHASE][:4] == [0, 1, 0, 0]
  assert r2[f.FINE_SCORE_MASK][:2] == [1, 1]
  assert r2[f.FINE_SCORE][1] == pytest.approx(0.7)
  assert set(r2[f.ITEM_ID][2:4]) <= {"i1", "i3", "i4", "i6"}

  r3 = train["r3"]  # u2's profile has a null gender: unknown, rest kept.
  assert r3[f.ITEM_ID][:3] == ["i3", "i4", "i6"]
  assert r3[f.SAMPLE_TYPE][:5] == [1, 3, 2, 4, 4]
  assert r3[f.LABEL_PURCHASE][:3] == [0, 1, 0]
  assert r3[f.LABEL_CLICK][:3] == [1, 1, 0]
  assert r3[f.FINE_SCORE_MASK][:2] == [1, 0]
  assert r3[f.AGE_BUCKET] == [4] and r3[f.GENDER] == [""]
  assert r3[f.PURCHASE_POWER] == [2]

  # r4 has a logged candidate set (i4, i1, i2): its negatives are the
  # candidates the fine ranker never saw, not random catalog items.
  r4 = evals["r4"]
  assert r4[f.ITEM_ID][0] == "i4" and r4[f.SAMPLE_TYPE][:4] == [1, 6, 6, 0]
  assert sorted(r4[f.ITEM_ID][1:3]) == ["i1", "i2"]
  assert r4[f.SAMPLING_LOG_Q][1:3] == pytest.approx([np.log(1 / 2)] * 2)
  assert r4[f.USER_HISTORY][:3] == ["i1", "i2", ""]
  # An eval list sees the train statistics whole.
  whole = {"i1": 1.0, "i2": 2.0, "i3": 1.0}
  assert r4[f.ITEM_EXPOSURES][:3] == [whole.get(i, 0.0)
                                      for i in r4[f.ITEM_ID][:3]]


def test_catalog_split_holds_every_valid_item_with_its_statistics(run):
  _, out, _ = run
  (catalog,) = map(encode.decode, _records(out.catalog))
  assert catalog[f.ITEM_ID] == ["i1", "i2", "i3", "i4", "i5", "i6", "", ""]
  assert catalog[f.ITEM_EXPOSURES] == [1.0, 2.0, 1.0, 0, 0, 0, 0, 0]
  assert catalog[f.ITEM_CLICKS] == [1.0, 0, 1.0, 0, 0, 0, 0, 0]
  assert catalog[f.ITEM_PURCHASES] == [1.0, 0, 0, 0, 0, 0, 0, 0]
  # Sales: every valid transaction before the validation cut, any scene
  # (i1 in search, i4, i5 and i6 elsewhere; the live one is unattributed).
  assert catalog[f.ITEM_SALES] == [1.0, 0, 0, 1.0, 1.0, 1.0, 0, 0]
  assert catalog[f.MASK] == [1] * 6 + [0, 0]


def test_validation_split_lies_between_train_and_eval(run, tmp_path):
  logs, _, _ = run
  params = params_lib.ListwiseParams(
      **{**json.loads(PARAMS.to_json()), "valid_share": 0.25})
  out = _paths(str(tmp_path / "valid"))
  report = beam_pipeline.run(logs, params, out)
  # The newest of r1..r3 (r3) moves to validation; r4 stays eval. No
  # validation request has a logged set, so r3's stand-in (its impressions
  # and the 4 other catalog items; 400 asked for) is cut into chunks of 8.
  assert report["lists"] == {"train": 2, "valid": 1, "eval": 1,
                             "catalog": 1, "candidate_negatives": 2,
                             "valid_candidate_sets": 1,
                             "valid_candidates": 1}
  assert report["valid_cut_ts"] == (T0 + 7200) // 60 * 60
  (r3,) = map(encode.decode, _records(out.valid))
  assert r3[f.REQUEST_ID] == ["r3"]
  # r3 is not a train request any more: i3's statistics come from r1 only
  # (unexposed there), so none; a validation list is never left out of.
  assert r3[f.ITEM_EXPOSURES][0] == 0.0
  assert r3[f.IN_TRAIN_COUNTS] == [0]
  (chunk,) = map(encode.decode, _records(out.valid_candidates))
  assert chunk[f.REQUEST_ID] == ["r3"]
  assert chunk[f.ITEM_ID][:2] == ["i3", "i6"]
  assert sorted(chunk[f.ITEM_ID][2:6]) == ["i1", "i2", "i4", "i5"]
  # i4 was bought elsewhere and attributed to r3.
  assert chunk[f.LABEL_PURCHASE] == [int(i == "i4")
                                     for i in chunk[f.ITEM_ID][:6]] + [0, 0]
  assert chunk[f.SAMPLE_TYPE] == [f.SAMPLE_CANDIDATE] * 6 + [f.SAMPLE_PAD] * 2
  assert ref_equal(logs, params, out, report)


def test_logged_sets_of_train_and_validation_requests(run, tmp_path):
  logs, _, _ = run
  copy = str(tmp_path / "logs")
  shutil.copytree(logs, copy)
  _write(copy, c.CANDIDATES, 1, [
      ("r2", "i2", 1.2), ("r2", "i4", None), ("r2", "i6", 0.3),
      ("r3", "i3", 0.9), ("r3", "i1", 0.4), ("r3", "i4", 0.2)])
  params = params_lib.ListwiseParams(
      **{**json.loads(PARAMS.to_json()), "valid_share": 0.25})
  out = _paths(str(tmp_path / "out"))
  report = beam_pipeline.run(copy, params, out)
  # r2 (train): its candidates left after its impressions (i2, i5, and i1,
  # i3 quarantined) and its attributed i5 are i4 and i6, both drawn.
  (r2,) = [e for e in map(encode.decode, _records(out.train))
           if e[f.REQUEST_ID] == ["r2"]]
  assert r2[f.SAMPLE_TYPE][:4] == [1, 3, 6, 6]
  assert sorted(r2[f.ITEM_ID][2:4]) == ["i4", "i6"]
  # r3 (validation) has a logged set now: its chunk is that set, in order.
  (chunk,) = map(encode.decode, _records(out.valid_candidates))
  assert chunk[f.ITEM_ID][:4] == ["i3", "i1", "i4", ""]
  assert chunk[f.LABEL_PURCHASE][:3] == [0, 0, 1]
  assert chunk[f.FINE_SCORE_MASK][:4] == [1, 1, 1, 0]
  assert report["tables"][c.CANDIDATES]["used"] == 3 + 6
  assert ref_equal(copy, params, out, report)


def test_eval_candidates(run):
  _, out, _ = run
  sets = _by_request(_records(out.eval_candidates))
  assert list(sets) == ["r4"]
  r4 = sets["r4"]
  assert r4[f.CAND_ITEM_ID] == ["i4", "i1", "i2"]
  assert r4[f.CAND_FINE_SCORE_MASK] == [1, 1, 0]
  assert r4[f.CAND_EXPOSED] == [1, 0, 0]
  # Train exposures: i1 (r1), i2 (r1, r2), i3 (r3); i4 never in train.
  assert r4[f.CAND_TRAIN_EXPOSURES] == [0, 1, 2]
  assert r4[f.CAND_TRAIN_SALES] == [1, 1, 0]
  assert r4[f.CANDIDATES_LOGGED] == [1]
  # "lamp" is in no train query: the uniform shares of 2 categories and 6
  # brands. u2's history i1 (cat1), i2 (cat0): half in each category.
  assert r4[f.CAND_QUERY_CATEGORY_LOG_SHARE] == pytest.approx(
      [np.log(1 / 2)] * 3)
  assert r4[f.CAND_QUERY_BRAND_LOG_SHARE] == pytest.approx(
      [np.log(1 / 6)] * 3)
  assert r4[f.CAND_HISTORY_CATEGORY_SHARE] == pytest.approx([0.5] * 3)


def ref_equal(logs, params, out, report):
  """The single-process reference builds the same outputs and report."""
  ref = reference.build_reference(logs, params)
  for split, records in ref.examples.items():
    assert sorted(records) == _records(out.split(split)), split
  assert sorted(ref.eval_candidates) == _records(out.eval_candidates)
  assert ref.report == report
  return True


def test_reference_agrees_exactly(run):
  logs, out, report = run
  assert ref_equal(logs, PARAMS, out, report)
  ref = reference.build_reference(logs, PARAMS)
  assert set(map(tuple, ref.quarantine[["table", "file", "row", "reason"]]
                 .itertuples(index=False))) == EXPECTED_QUARANTINE


def test_deterministic_per_seed(run, tmp_path):
  logs, out, _ = run
  again = _paths(str(tmp_path / "again"))
  beam_pipeline.run(logs, PARAMS, again)
  assert _records(again.train) == _records(out.train)
  other = _paths(str(tmp_path / "other"))
  beam_pipeline.run(logs, params_lib.ListwiseParams(
      **{**json.loads(PARAMS.to_json()), "seed": 99}), other)
  assert _records(other.train) != _records(out.train)


def test_quarantine_share_limit_fails_with_the_report(run, tmp_path):
  logs, _, _ = run
  strict = params_lib.ListwiseParams(
      **{**json.loads(PARAMS.to_json()), "max_quarantine_share": 0.3})
  # requests quarantine 7/11 and candidates 3/6, above 30%; users 1/3 too.
  with pytest.raises(report_lib.QuarantineLimitError) as error:
    beam_pipeline.run(logs, strict, _paths(str(tmp_path / "o")))
  message = str(error.value)
  assert "requests" in message and "candidates" in message
  assert "empty_request" in message


def test_schema_fault_fails_before_reading(tmp_path):
  logs = str(tmp_path / "logs")
  make_logs(logs)
  path = os.path.join(logs, c.IMPRESSIONS, "part-0.parquet")
  pq.write_table(pq.read_table(path).drop([c.POSITION]), path)
  with pytest.raises(log_files.LogSchemaError) as error:
    beam_pipeline.run(logs, PARAMS, _paths(str(tmp_path / "out")),
                      make_pipeline=_no_pipeline)
  assert error.value.column == c.POSITION
  assert "impressions" in str(error.value)
  assert "part-0.parquet" in str(error.value)


def _no_pipeline():
  raise AssertionError("the pipeline must not start on a schema fault")


def test_report_check_catches_lost_rows():
  report = report_lib.build_report(
      [(("items", "read"), 5), (("items", "used"), 3),
       (("items", "quarantined:null_id"), 1)], split.Cuts(0, 0))
  with pytest.raises(report_lib.ReconciliationError, match="items"):
    report_lib.check(report, 1.0)


def test_report_check_catches_lost_lists():
  report = report_lib.build_report(
      [(("requests", "read"), 4), (("requests", "used"), 4),
       (("lists", "train"), 2), (("lists", "eval"), 1),
       (("lists", "catalog"), 9)], split.Cuts(0, 0))
  with pytest.raises(report_lib.ReconciliationError, match="lists: 3 built"):
    report_lib.check(report, 1.0)



def test_validate_logs_finds_the_same_faults_and_coercions(run):
  logs, _, report = run
  found = validate.validate_logs(logs)
  assert found.faults == {
      table: row["quarantined_by_reason"]
      for table, row in report["tables"].items()
      if row["quarantined_by_reason"]}
  assert found.coercions == {
      table: row["coerced_by_reason"]
      for table, row in report["tables"].items()
      if row["coerced_by_reason"]}
  assert {t: len(n) for t, n in found.skipped_files.items()} == {
      table: row["skipped_files"]
      for table, row in report["tables"].items() if row["skipped_files"]}
  # Every fault kind and coercion of the contract is among them.
  assert {r for by in found.faults.values() for r in by} == set(
      faults.REASONS)
  assert {r for by in found.coercions.values() for r in by} == set(
      coercions.COERCIONS)
