"""Tests of the raw-log row-fault checks and the validate-logs report."""

import json
import math
import pathlib
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.raw_logs import coercions
from components.raw_logs import contract
from components.raw_logs import faults
from components.raw_logs import validate

Rows = List[Dict[str, Any]]

REQUESTS = contract.REQUESTS
USERS = contract.USERS
ITEMS = contract.ITEMS
IMPRESSIONS = contract.IMPRESSIONS
TRANSACTIONS = contract.TRANSACTIONS
CANDIDATES = contract.CANDIDATES

# Unix seconds of the logs' period start (2026-10-01 UTC).
T0 = 1_790_812_800

VALID_ROWS_READ = {
    REQUESTS: 3, USERS: 2, ITEMS: 4, IMPRESSIONS: 7, TRANSACTIONS: 2,
    CANDIDATES: 4,
}


def request(request_id, user_id="u1", query="red shoes", ts=T0 + 100,
            history=()):
  return {"request_id": request_id, "user_id": user_id, "query": query,
          "ts": ts, "user_history": list(history)}


def impression(request_id, item_id, fine_score=0.5, exposed=False,
               position=-1, clicked=False, purchased=False):
  return {"request_id": request_id, "item_id": item_id,
          "fine_score": fine_score, "exposed": exposed, "position": position,
          "clicked": clicked, "purchased": purchased}


def valid_world() -> Dict[str, Rows]:
  """3 requests, 2 users, 4 items and the rows that tie them together."""
  return {
      REQUESTS: [
          request("r1", "u1", "red shoes", T0 + 100),
          request("r2", "u2", "blue hat", T0 + 200, ["i1"]),
          request("r3", "u1", "red shoes", T0 + 300, ["i2", "i1"]),
      ],
      USERS: [
          {"user_id": "u1", "age_bucket": 2, "gender": "f",
           "purchase_power": 3},
          {"user_id": "u2", "age_bucket": 4, "gender": "m",
           "purchase_power": 1},
      ],
      ITEMS: [
          {"item_id": "i1", "category": "shoes", "brand": "acme",
           "price": 10.0},
          {"item_id": "i2", "category": "shoes", "brand": "bolt",
           "price": 20.0},
          {"item_id": "i3", "category": "hats", "brand": "acme", "price": 5.5},
          {"item_id": "i4", "category": "hats", "brand": "cape", "price": 0.0},
      ],
      IMPRESSIONS: [
          impression("r1", "i1", 0.9, True, 0, True, True),
          impression("r1", "i2", 0.7, True, 1),
          impression("r1", "i3", 0.4),
          impression("r2", "i2", 0.8, True, 0, True),
          impression("r2", "i4", 0.1),
          impression("r3", "i1", 0.6, True, 0),
          impression("r3", "i3", 0.5, True, 1, True, True),
      ],
      TRANSACTIONS: [
          {"user_id": "u1", "item_id": "i1", "ts": T0 + 110,
           "scene": "search"},
          {"user_id": "u2", "item_id": "i3", "ts": T0 + 250,
           "scene": "home"},
      ],
      CANDIDATES: [
          {"request_id": "r1", "item_id": "i1", "fine_score": 0.9},
          {"request_id": "r1", "item_id": "i2", "fine_score": 0.7},
          {"request_id": "r1", "item_id": "i3", "fine_score": None},
          {"request_id": "r1", "item_id": "i4", "fine_score": 0.05},
      ],
  }


def table_schema(table: str,
                 types: Optional[Mapping[str, pa.DataType]] = None,
                 drop: Sequence[str] = ()) -> pa.Schema:
  """The contract schema of `table`, some column types changed or dropped."""
  types = types or {}
  return pa.schema([(c.name, types.get(c.name, c.type))
                    for c in contract.TABLES[table].columns
                    if c.name not in drop])


def write_rows(logs_dir: pathlib.Path, table: str, rows: Rows,
               file: str = "part-0.parquet",
               schema: Optional[pa.Schema] = None) -> None:
  folder = logs_dir / table
  folder.mkdir(parents=True, exist_ok=True)
  schema = schema or table_schema(table)
  rows = [{k: v for k, v in row.items() if k in schema.names} for row in rows]
  pq.write_table(pa.Table.from_pylist(rows, schema=schema),
                 str(folder / file))


def write_world(logs_dir: pathlib.Path, world: Mapping[str, Rows]) -> None:
  for table, rows in world.items():
    write_rows(logs_dir, table, rows)


def validate_world(logs_dir: pathlib.Path,
                   world: Mapping[str, Rows]) -> validate.ValidationReport:
  write_world(logs_dir, world)
  return validate.validate_logs(str(logs_dir))


def example_rows(report: validate.ValidationReport, table: str,
                 reason: str) -> List[Tuple[str, int]]:
  return [(e.file, e.row) for e in report.examples[table][reason]]


# Valid logs.


def test_valid_logs_are_ok(tmp_path):
  report = validate_world(tmp_path, valid_world())

  assert report.ok
  assert report.rows_read == VALID_ROWS_READ
  assert report.faults == {}
  assert report.examples == {}
  assert json.loads(json.dumps(report.to_dict())) == {
      "ok": True, "rows_read": VALID_ROWS_READ, "faults": {}, "examples": {},
      "coercions": {}, "skipped_files": {}}


def test_optional_tables_may_be_absent(tmp_path):
  world = valid_world()
  del world[USERS], world[CANDIDATES]

  report = validate_world(tmp_path, world)

  assert report.ok
  assert report.rows_read == {
      REQUESTS: 3, ITEMS: 4, IMPRESSIONS: 7, TRANSACTIONS: 2}
  assert "absent" in report.format()


def test_optional_column_may_be_absent_and_extra_columns_are_ignored(tmp_path):
  world = valid_world()
  write_world(tmp_path, world)
  write_rows(tmp_path, CANDIDATES, world[CANDIDATES],
             schema=table_schema(CANDIDATES, drop=[contract.FINE_SCORE]))
  extra = table_schema(IMPRESSIONS).append(pa.field("debug", pa.int64()))
  write_rows(tmp_path, IMPRESSIONS,
             [dict(row, debug=None) for row in world[IMPRESSIONS]],
             schema=extra)

  report = validate.validate_logs(str(tmp_path))

  assert report.ok
  assert report.rows_read == VALID_ROWS_READ


def test_list_element_field_name_is_not_part_of_the_type(tmp_path):
  world = valid_world()
  write_world(tmp_path, world)
  spark_list = pa.list_(pa.field("element", pa.string()))
  write_rows(tmp_path, REQUESTS, world[REQUESTS],
             schema=table_schema(REQUESTS, {contract.USER_HISTORY: spark_list}))

  assert validate.validate_logs(str(tmp_path)).ok


def test_empty_files_are_valid(tmp_path):
  world = valid_world()
  write_world(tmp_path, world)
  write_rows(tmp_path, IMPRESSIONS, [], file="part-1.parquet")

  report = validate.validate_logs(str(tmp_path))

  assert report.ok
  assert report.rows_read == VALID_ROWS_READ


# Row faults.


def test_null_ids(tmp_path):
  world = valid_world()
  world[USERS][1]["user_id"] = None
  world[IMPRESSIONS][1]["request_id"] = None
  world[TRANSACTIONS][0]["user_id"] = None
  world[CANDIDATES][0]["item_id"] = None

  report = validate_world(tmp_path, world)

  assert not report.ok
  assert report.rows_read == VALID_ROWS_READ
  assert report.faults == {
      USERS: {faults.NULL_ID: 1},
      IMPRESSIONS: {faults.NULL_ID: 1},
      TRANSACTIONS: {faults.NULL_ID: 1},
      CANDIDATES: {faults.NULL_ID: 1},
  }
  assert example_rows(report, IMPRESSIONS, faults.NULL_ID) == [
      ("impressions/part-0.parquet", 1)]
  assert report.examples[IMPRESSIONS][faults.NULL_ID][0].values == {
      "request_id": None, "item_id": "i2"}
  assert example_rows(report, USERS, faults.NULL_ID) == [
      ("users/part-0.parquet", 1)]
  assert example_rows(report, TRANSACTIONS, faults.NULL_ID) == [
      ("transactions/part-0.parquet", 0)]
  assert example_rows(report, CANDIDATES, faults.NULL_ID) == [
      ("candidates/part-0.parquet", 0)]


def test_ids_over_the_length_limit(tmp_path):
  long_id = "é" * (contract.MAX_ID_BYTES // 2 + 1)  # 2 bytes per character.
  world = valid_world()
  world[USERS][1]["user_id"] = long_id
  world[REQUESTS][2]["user_history"] = ["i2", "x" * 1_000_000]
  world[IMPRESSIONS][2]["item_id"] = long_id
  world[TRANSACTIONS][1]["item_id"] = "i" * contract.MAX_ID_BYTES  # Allowed.

  report = validate_world(tmp_path, world)

  # r3 is quarantined, so its impressions (rows 5, 6) lose their request;
  # the transaction's item, at the limit, is unknown.
  assert report.faults == {
      REQUESTS: {faults.ID_TOO_LONG: 1},
      USERS: {faults.ID_TOO_LONG: 1},
      IMPRESSIONS: {faults.ID_TOO_LONG: 1, faults.UNKNOWN_REQUEST: 2},
      TRANSACTIONS: {faults.UNKNOWN_ITEM: 1},
  }
  assert report.examples[REQUESTS][faults.ID_TOO_LONG][0].values == {
      "request_id": "r3", "user_id": "u1", "user_history": [
          "i2", "x" * faults.SHOWN_ID_CHARS + "... (1000000 bytes)"]}
  assert report.examples[USERS][faults.ID_TOO_LONG][0].values == {
      "user_id": "é" * faults.SHOWN_ID_CHARS + "... (1026 bytes)"}


def test_null_values(tmp_path):
  world = valid_world()
  world[IMPRESSIONS][2]["clicked"] = None
  world[IMPRESSIONS][3]["fine_score"] = None
  world[TRANSACTIONS][1]["scene"] = None

  report = validate_world(tmp_path, world)

  # candidates row 2 has a null fine_score too, which is allowed there.
  assert report.faults == {
      IMPRESSIONS: {faults.NULL_VALUE: 2},
      TRANSACTIONS: {faults.NULL_VALUE: 1},
  }
  assert example_rows(report, IMPRESSIONS, faults.NULL_VALUE) == [
      ("impressions/part-0.parquet", 2), ("impressions/part-0.parquet", 3)]
  assert report.examples[IMPRESSIONS][faults.NULL_VALUE][0].values == {
      "request_id": "r1", "item_id": "i3", "clicked": None}
  assert example_rows(report, TRANSACTIONS, faults.NULL_VALUE) == [
      ("transactions/part-0.parquet", 1)]


def test_null_user_history_or_history_item(tmp_path):
  world = valid_world()
  world[REQUESTS][1]["user_history"] = None
  world[REQUESTS][2]["user_history"] = ["i2", None]

  report = validate_world(tmp_path, world)

  # The impressions of r2 (rows 3, 4) and r3 (rows 5, 6) lose their request.
  assert report.faults == {
      REQUESTS: {faults.NULL_VALUE: 2},
      IMPRESSIONS: {faults.UNKNOWN_REQUEST: 4},
  }
  assert example_rows(report, REQUESTS, faults.NULL_VALUE) == [
      ("requests/part-0.parquet", 1), ("requests/part-0.parquet", 2)]
  assert report.examples[REQUESTS][faults.NULL_VALUE][1].values == {
      "request_id": "r3", "user_id": "u1", "user_history": ["i2", None]}
  assert example_rows(report, IMPRESSIONS, faults.UNKNOWN_REQUEST) == [
      ("impressions/part-0.parquet", 3), ("impressions/part-0.parquet", 4),
      ("impressions/part-0.parquet", 5)]


def test_rows_of_a_faulty_request_are_unknown_requests(tmp_path):
  world = valid_world()
  world[REQUESTS][0]["query"] = None

  report = validate_world(tmp_path, world)

  assert report.faults == {
      REQUESTS: {faults.NULL_VALUE: 1},
      IMPRESSIONS: {faults.UNKNOWN_REQUEST: 3},
      CANDIDATES: {faults.UNKNOWN_REQUEST: 4},
  }
  assert example_rows(report, CANDIDATES, faults.UNKNOWN_REQUEST) == [
      ("candidates/part-0.parquet", 0), ("candidates/part-0.parquet", 1),
      ("candidates/part-0.parquet", 2)]


def test_non_finite_scores(tmp_path):
  world = valid_world()
  world[IMPRESSIONS][0]["fine_score"] = float("nan")
  world[IMPRESSIONS][3]["fine_score"] = float("inf")
  world[CANDIDATES][1]["fine_score"] = float("-inf")

  report = validate_world(tmp_path, world)

  assert report.faults == {
      IMPRESSIONS: {faults.NON_FINITE_SCORE: 2},
      CANDIDATES: {faults.NON_FINITE_SCORE: 1},
  }
  assert example_rows(report, IMPRESSIONS, faults.NON_FINITE_SCORE) == [
      ("impressions/part-0.parquet", 0), ("impressions/part-0.parquet", 3)]
  assert math.isnan(
      report.examples[IMPRESSIONS][faults.NON_FINITE_SCORE][0]
      .values["fine_score"])
  assert example_rows(report, CANDIDATES, faults.NON_FINITE_SCORE) == [
      ("candidates/part-0.parquet", 1)]
  as_dict = json.loads(json.dumps(report.to_dict(), allow_nan=False))
  assert as_dict["examples"][IMPRESSIONS][faults.NON_FINITE_SCORE] == [
      {"file": "impressions/part-0.parquet", "row": 0,
       "values": {"request_id": "r1", "item_id": "i1", "fine_score": "nan"}},
      {"file": "impressions/part-0.parquet", "row": 3,
       "values": {"request_id": "r2", "item_id": "i2", "fine_score": "inf"}},
  ]


@pytest.mark.parametrize("price,reason", [
    (float("nan"), faults.NON_FINITE_PRICE),
    (float("inf"), faults.NON_FINITE_PRICE),
    (float("-inf"), faults.NON_FINITE_PRICE),
    (-1.0, faults.NEGATIVE_PRICE),
    (-1e-9, faults.NEGATIVE_PRICE),
])
def test_bad_price_drops_the_item(tmp_path, price, reason):
  world = valid_world()
  world[ITEMS][3]["price"] = price

  report = validate_world(tmp_path, world)

  # i4 is shown once (impressions row 4) and a candidate once (row 3).
  assert report.faults == {
      ITEMS: {reason: 1},
      IMPRESSIONS: {faults.UNKNOWN_ITEM: 1},
      CANDIDATES: {faults.UNKNOWN_ITEM: 1},
  }
  assert example_rows(report, ITEMS, reason) == [("items/part-0.parquet", 3)]
  assert example_rows(report, IMPRESSIONS, faults.UNKNOWN_ITEM) == [
      ("impressions/part-0.parquet", 4)]
  assert example_rows(report, CANDIDATES, faults.UNKNOWN_ITEM) == [
      ("candidates/part-0.parquet", 3)]


def test_inconsistent_positions(tmp_path):
  world = valid_world()
  world[IMPRESSIONS][0]["position"] = -1  # Exposed.
  world[IMPRESSIONS][2]["position"] = 2  # Not exposed.
  world[IMPRESSIONS][4]["position"] = 0  # Not exposed.

  report = validate_world(tmp_path, world)

  assert report.faults == {IMPRESSIONS: {faults.INCONSISTENT_POSITION: 3}}
  assert example_rows(report, IMPRESSIONS, faults.INCONSISTENT_POSITION) == [
      ("impressions/part-0.parquet", 0), ("impressions/part-0.parquet", 2),
      ("impressions/part-0.parquet", 4)]
  example = report.examples[IMPRESSIONS][faults.INCONSISTENT_POSITION][0]
  assert example.values == {
      "request_id": "r1", "item_id": "i1", "exposed": True, "position": -1}


def test_interactions_not_exposed(tmp_path):
  world = valid_world()
  world[IMPRESSIONS][2].update(purchased=True)  # r1 i3, not exposed.
  world[IMPRESSIONS][4].update(clicked=True)  # r2 i4, not exposed.
  world[IMPRESSIONS][5].update(clicked=True, purchased=True)  # r3 i1 shown.

  report = validate_world(tmp_path, world)

  assert report.faults == {IMPRESSIONS: {faults.INTERACTION_NOT_EXPOSED: 2}}
  assert example_rows(report, IMPRESSIONS, faults.INTERACTION_NOT_EXPOSED) == [
      ("impressions/part-0.parquet", 2), ("impressions/part-0.parquet", 4)]
  assert report.examples[IMPRESSIONS][faults.INTERACTION_NOT_EXPOSED][
      0].values == {"request_id": "r1", "item_id": "i3", "exposed": False,
                    "clicked": False, "purchased": True}
  assert report.coercions == {}


def test_purchase_without_click_is_a_counted_coercion(tmp_path):
  world = valid_world()
  world[IMPRESSIONS][0].update(clicked=False)  # r1 i1: shown and bought.
  world[IMPRESSIONS][1].update(purchased=True)  # r1 i2: shown and bought.
  world[IMPRESSIONS][6].update(request_id="r9", clicked=False)  # faulty.

  report = validate_world(tmp_path, world)

  assert report.faults == {IMPRESSIONS: {faults.UNKNOWN_REQUEST: 1}}
  assert not report.ok
  # The faulty row (r9) is not counted: coercions count valid rows.
  assert report.coercions == {
      IMPRESSIONS: {coercions.CLICK_FROM_PURCHASE: 2}}
  assert report.to_dict()["coercions"] == {
      IMPRESSIONS: {coercions.CLICK_FROM_PURCHASE: 2}}
  assert "  impressions / click_from_purchase: 2" in report.format()


def test_null_profile_values_keep_the_profile(tmp_path):
  world = valid_world()
  world[USERS][0]["gender"] = None
  world[USERS][1].update(age_bucket=None, purchase_power=None)

  report = validate_world(tmp_path, world)

  assert report.ok
  assert report.coercions == {USERS: {coercions.UNKNOWN_PROFILE_VALUE: 2}}


def test_empty_ids(tmp_path):
  world = valid_world()
  world[REQUESTS][0]["user_id"] = ""
  world[REQUESTS][2]["user_history"] = ["i2", ""]
  world[ITEMS].append({"item_id": "", "category": "x", "brand": "y",
                       "price": 1.0})
  world[IMPRESSIONS][3]["item_id"] = ""  # r2's only shown item.
  world[TRANSACTIONS][1]["user_id"] = ""
  world[CANDIDATES][1]["item_id"] = ""

  report = validate_world(tmp_path, world)

  # r1 and r3 lose their impressions (rows 0-2, 5-6) and r1 its candidates
  # (all but row 1, an empty id first); r2 keeps i4 (row 4).
  assert report.faults == {
      REQUESTS: {faults.EMPTY_ID: 2},
      ITEMS: {faults.EMPTY_ID: 1},
      IMPRESSIONS: {faults.EMPTY_ID: 1, faults.UNKNOWN_REQUEST: 5},
      TRANSACTIONS: {faults.EMPTY_ID: 1},
      CANDIDATES: {faults.EMPTY_ID: 1, faults.UNKNOWN_REQUEST: 3},
  }
  assert example_rows(report, REQUESTS, faults.EMPTY_ID) == [
      ("requests/part-0.parquet", 0), ("requests/part-0.parquet", 2)]
  assert report.examples[REQUESTS][faults.EMPTY_ID][1].values == {
      "request_id": "r3", "user_id": "u1", "user_history": ["i2", ""]}
  assert example_rows(report, ITEMS, faults.EMPTY_ID) == [
      ("items/part-0.parquet", 4)]
  assert example_rows(report, IMPRESSIONS, faults.EMPTY_ID) == [
      ("impressions/part-0.parquet", 3)]


@pytest.mark.parametrize("ts", [0, -1, -10**12, contract.MIN_TS - 1,
                                contract.END_TS, T0 * 1000])
def test_implausible_timestamps(tmp_path, ts):
  world = valid_world()
  world[REQUESTS][1]["ts"] = ts  # r2: impressions rows 3, 4.
  world[TRANSACTIONS][0]["ts"] = ts

  report = validate_world(tmp_path, world)

  assert report.faults == {
      REQUESTS: {faults.IMPLAUSIBLE_TIMESTAMP: 1},
      IMPRESSIONS: {faults.UNKNOWN_REQUEST: 2},
      TRANSACTIONS: {faults.IMPLAUSIBLE_TIMESTAMP: 1},
  }
  assert report.examples[REQUESTS][faults.IMPLAUSIBLE_TIMESTAMP][
      0].values == {"request_id": "r2", "user_id": "u2", "ts": ts}


def test_the_bounds_of_the_plausible_period_are_valid(tmp_path):
  world = valid_world()
  world[REQUESTS][0]["ts"] = contract.MIN_TS
  world[REQUESTS][1]["ts"] = contract.END_TS - 1

  assert validate_world(tmp_path, world).ok


def test_entries_that_are_not_parquet_files_are_named(tmp_path, caplog):
  write_world(tmp_path, valid_world())
  (tmp_path / IMPRESSIONS / "notes.csv").write_text("a,b\n")
  (tmp_path / IMPRESSIONS / "_SUCCESS").write_text("")
  write_rows(tmp_path / IMPRESSIONS, "date=2026-10-02",
             [impression("r1", "i4")], schema=table_schema(IMPRESSIONS))

  with caplog.at_level("WARNING"):
    report = validate.validate_logs(str(tmp_path))

  # The hive-style partition's row is not read: impressions rows stay 7.
  assert report.ok and report.rows_read == VALID_ROWS_READ
  assert report.skipped_files == {
      IMPRESSIONS: ["impressions/date=2026-10-02/", "impressions/notes.csv"]}
  assert "impressions/notes.csv" in report.format()
  warnings = [r.getMessage() for r in caplog.records
              if r.levelname == "WARNING"]
  assert any("impressions/date=2026-10-02/" in w and "skipped 2 folder entries" in w
             for w in warnings), warnings


@pytest.mark.parametrize("batch_rows", [1 << 20, 1])
def test_duplicate_keys_within_and_across_files(tmp_path, monkeypatch,
                                                batch_rows):
  monkeypatch.setattr(validate, "_BATCH_ROWS", batch_rows)
  world = valid_world()
  world[REQUESTS].append(request("r1", "u2", "green hat", T0 + 400))
  world[ITEMS].append(dict(world[ITEMS][0], price=11.0))
  world[USERS].append(dict(world[USERS][0], age_bucket=5))
  write_world(tmp_path, world)
  write_rows(tmp_path, REQUESTS, [request("r2", "u2", "blue hat", T0 + 210)],
             file="part-1.parquet")

  report = validate.validate_logs(str(tmp_path))

  assert report.rows_read == dict(VALID_ROWS_READ, requests=5, items=5, users=3)
  assert report.faults == {
      REQUESTS: {faults.DUPLICATE_KEY: 2},
      USERS: {faults.DUPLICATE_KEY: 1},
      ITEMS: {faults.DUPLICATE_KEY: 1},
  }
  assert example_rows(report, REQUESTS, faults.DUPLICATE_KEY) == [
      ("requests/part-0.parquet", 3), ("requests/part-1.parquet", 0)]
  assert report.examples[REQUESTS][faults.DUPLICATE_KEY][1].values == {
      "request_id": "r2", "user_id": "u2"}
  assert example_rows(report, ITEMS, faults.DUPLICATE_KEY) == [
      ("items/part-0.parquet", 4)]
  assert example_rows(report, USERS, faults.DUPLICATE_KEY) == [
      ("users/part-0.parquet", 2)]


def test_first_valid_occurrence_of_a_key_is_kept(tmp_path):
  world = valid_world()
  world[REQUESTS][2]["ts"] = None
  write_world(tmp_path, world)
  write_rows(tmp_path, REQUESTS, [request("r3", "u1", "red shoes", T0 + 300)],
             file="part-1.parquet")

  report = validate.validate_logs(str(tmp_path))

  # r3 of part-1 is kept, so the impressions of r3 stay valid.
  assert report.faults == {REQUESTS: {faults.NULL_VALUE: 1}}
  assert example_rows(report, REQUESTS, faults.NULL_VALUE) == [
      ("requests/part-0.parquet", 2)]


def test_unknown_requests(tmp_path):
  world = valid_world()
  world[IMPRESSIONS].append(impression("r9", "i1"))
  world[CANDIDATES].append(
      {"request_id": "r9", "item_id": "i2", "fine_score": 0.3})

  report = validate_world(tmp_path, world)

  assert report.faults == {
      IMPRESSIONS: {faults.UNKNOWN_REQUEST: 1},
      CANDIDATES: {faults.UNKNOWN_REQUEST: 1},
  }
  assert example_rows(report, IMPRESSIONS, faults.UNKNOWN_REQUEST) == [
      ("impressions/part-0.parquet", 7)]
  assert report.examples[IMPRESSIONS][faults.UNKNOWN_REQUEST][0].values == {
      "request_id": "r9", "item_id": "i1"}
  assert example_rows(report, CANDIDATES, faults.UNKNOWN_REQUEST) == [
      ("candidates/part-0.parquet", 4)]


def test_unknown_items(tmp_path):
  world = valid_world()
  world[IMPRESSIONS].append(impression("r1", "i9"))
  world[TRANSACTIONS].append(
      {"user_id": "u1", "item_id": "i9", "ts": T0 + 120, "scene": "feed"})
  world[CANDIDATES].append(
      {"request_id": "r1", "item_id": "i9", "fine_score": 0.2})

  report = validate_world(tmp_path, world)

  assert report.faults == {
      IMPRESSIONS: {faults.UNKNOWN_ITEM: 1},
      TRANSACTIONS: {faults.UNKNOWN_ITEM: 1},
      CANDIDATES: {faults.UNKNOWN_ITEM: 1},
  }
  assert example_rows(report, IMPRESSIONS, faults.UNKNOWN_ITEM) == [
      ("impressions/part-0.parquet", 7)]
  assert example_rows(report, TRANSACTIONS, faults.UNKNOWN_ITEM) == [
      ("transactions/part-0.parquet", 2)]
  assert example_rows(report, CANDIDATES, faults.UNKNOWN_ITEM) == [
      ("candidates/part-0.parquet", 4)]


def test_empty_requests(tmp_path):
  world = valid_world()
  world[REQUESTS].append(request("r4", "u2", "scarf", T0 + 400))
  world[IMPRESSIONS][3]["fine_score"] = float("nan")
  world[IMPRESSIONS][4]["fine_score"] = float("nan")
  world[CANDIDATES].append(
      {"request_id": "r4", "item_id": "i1", "fine_score": 0.3})

  report = validate_world(tmp_path, world)

  # r4 has no impressions and r2 only faulty ones; r4's candidate is orphaned.
  assert report.faults == {
      REQUESTS: {faults.EMPTY_REQUEST: 2},
      IMPRESSIONS: {faults.NON_FINITE_SCORE: 2},
      CANDIDATES: {faults.UNKNOWN_REQUEST: 1},
  }
  assert example_rows(report, REQUESTS, faults.EMPTY_REQUEST) == [
      ("requests/part-0.parquet", 1), ("requests/part-0.parquet", 3)]
  assert report.examples[REQUESTS][faults.EMPTY_REQUEST][1].values == {
      "request_id": "r4", "user_id": "u2"}
  assert example_rows(report, CANDIDATES, faults.UNKNOWN_REQUEST) == [
      ("candidates/part-0.parquet", 4)]


def test_a_row_gets_the_first_reason_that_applies(tmp_path):
  world = valid_world()
  world[IMPRESSIONS][0].update(request_id=None, fine_score=float("nan"),
                               position=5)
  world[IMPRESSIONS][1].update(fine_score=None, position=-1)
  world[IMPRESSIONS][5].update(fine_score=float("inf"), item_id="i9")

  report = validate_world(tmp_path, world)

  assert report.faults == {IMPRESSIONS: {
      faults.NULL_ID: 1, faults.NULL_VALUE: 1, faults.NON_FINITE_SCORE: 1}}
  assert list(report.faults[IMPRESSIONS]) == [
      faults.NULL_ID, faults.NULL_VALUE, faults.NON_FINITE_SCORE]
  assert example_rows(report, IMPRESSIONS, faults.NON_FINITE_SCORE) == [
      ("impressions/part-0.parquet", 5)]


def test_examples_are_capped_but_counts_are_not(tmp_path):
  world = valid_world()
  world[IMPRESSIONS].extend(impression("r1", f"x{i}") for i in range(5))

  report = validate_world(tmp_path, world)

  assert report.faults == {IMPRESSIONS: {faults.UNKNOWN_ITEM: 5}}
  assert example_rows(report, IMPRESSIONS, faults.UNKNOWN_ITEM) == [
      ("impressions/part-0.parquet", 7), ("impressions/part-0.parquet", 8),
      ("impressions/part-0.parquet", 9)]


def test_format_shows_rows_faults_and_examples(tmp_path):
  world = valid_world()
  write_world(tmp_path, world)
  write_rows(tmp_path, REQUESTS, [request("r2", "u2", "blue hat", T0 + 210)],
             file="part-1.parquet")

  text = validate.validate_logs(str(tmp_path)).format()

  lines = [line.split() for line in text.splitlines()]
  assert ["requests", "4", "1"] in lines
  assert ["duplicate_key", "1"] in lines
  assert ["impressions", "7", "0"] in lines
  assert ["requests/part-1.parquet", "row", "0:", "request_id='r2',",
          "user_id='u2'"] in lines


# Schema faults.


def test_missing_required_table(tmp_path):
  world = valid_world()
  del world[ITEMS]
  write_world(tmp_path, world)

  with pytest.raises(validate.LogSchemaError) as error:
    validate.validate_logs(str(tmp_path))

  assert "'items'" in str(error.value)
  assert str(tmp_path / "items") in str(error.value)


def test_table_folder_without_parquet_files(tmp_path):
  world = valid_world()
  del world[IMPRESSIONS]
  write_world(tmp_path, world)
  (tmp_path / IMPRESSIONS).mkdir()
  (tmp_path / IMPRESSIONS / "_SUCCESS").write_text("")

  with pytest.raises(validate.LogSchemaError) as error:
    validate.validate_logs(str(tmp_path))

  assert "'impressions'" in str(error.value)
  assert str(tmp_path / "impressions") in str(error.value)


@pytest.mark.parametrize("table,column", [
    (IMPRESSIONS, contract.POSITION),
    (REQUESTS, contract.USER_HISTORY),
    (TRANSACTIONS, contract.SCENE),
    (CANDIDATES, contract.ITEM_ID),  # Required column of an optional table.
])
def test_missing_required_column(tmp_path, table, column):
  world = valid_world()
  write_world(tmp_path, world)
  write_rows(tmp_path, table, world[table], file="part-1.parquet",
             schema=table_schema(table, drop=[column]))

  with pytest.raises(validate.LogSchemaError) as error:
    validate.validate_logs(str(tmp_path))

  message = str(error.value)
  assert f"'{table}'" in message
  assert f"{table}/part-1.parquet" in message
  assert f"'{column}'" in message
  assert "missing" in message


@pytest.mark.parametrize("table,column,found,expected_text", [
    (IMPRESSIONS, contract.POSITION, pa.int64(),
     "expected type int32, found int64"),
    (REQUESTS, contract.TS, pa.timestamp("ms"),
     "expected type int64, found timestamp[ms]"),
    (REQUESTS, contract.USER_HISTORY, pa.list_(pa.int64()),
     "expected type list<item: string>, found list<item: int64>"),
    (ITEMS, contract.PRICE, pa.float32(), "expected type double, found float"),
    (CANDIDATES, contract.FINE_SCORE, pa.float32(),  # Optional column.
     "expected type double, found float"),
])
def test_wrong_column_type(tmp_path, table, column, found, expected_text):
  world = valid_world()
  write_world(tmp_path, world)
  rows = [dict(row, **{column: None}) for row in world[table]]
  write_rows(tmp_path, table, rows,
             schema=table_schema(table, {column: found}))

  with pytest.raises(validate.LogSchemaError) as error:
    validate.validate_logs(str(tmp_path))

  message = str(error.value)
  assert f"'{table}'" in message
  assert f"{table}/part-0.parquet" in message
  assert f"'{column}'" in message
  assert expected_text in message


def test_unreadable_parquet_file(tmp_path):
  write_world(tmp_path, valid_world())
  (tmp_path / IMPRESSIONS / "part-1.parquet").write_bytes(b"not parquet")

  with pytest.raises(validate.LogSchemaError) as error:
    validate.validate_logs(str(tmp_path))

  message = str(error.value)
  assert "'impressions'" in message
  assert "impressions/part-1.parquet" in message
  assert "unreadable" in message


def test_schema_faults_are_found_before_row_faults(tmp_path):
  world = valid_world()
  world[IMPRESSIONS][0]["request_id"] = None
  write_world(tmp_path, world)
  write_rows(tmp_path, CANDIDATES, world[CANDIDATES],
             schema=table_schema(CANDIDATES, drop=[contract.REQUEST_ID]))

  with pytest.raises(validate.LogSchemaError, match="'request_id'"):
    validate.validate_logs(str(tmp_path))


# The batch-wise functions, as the quarantine stage will call them.


def impressions_batch(rows: Rows) -> pa.RecordBatch:
  return pa.RecordBatch.from_pylist(rows, schema=table_schema(IMPRESSIONS))


def test_row_fault_reasons_of_a_batch():
  batch = impressions_batch([
      impression("r1", "i1"),
      impression("r9", "i1"),
      impression("r1", "i9"),
      impression("r1", None),
      impression("r1", "i1", exposed=True, position=-1),
      impression("r1", "i1", fine_score=float("-inf")),
  ])

  reasons = faults.row_fault_reasons(
      IMPRESSIONS, batch, known_request_ids=pa.array(["r1"]),
      known_item_ids=pa.array(["i1"]))

  assert reasons.type == pa.string()
  assert reasons.to_pylist() == [
      None, faults.UNKNOWN_REQUEST, faults.UNKNOWN_ITEM, faults.NULL_ID,
      faults.INCONSISTENT_POSITION, faults.NON_FINITE_SCORE]


def test_row_fault_reasons_skip_lookups_that_are_not_given():
  batch = impressions_batch([impression("r9", "i9")])

  assert faults.row_fault_reasons(IMPRESSIONS, batch).to_pylist() == [None]


def test_row_fault_reasons_take_tables_and_python_sets():
  rows = [impression("r1", "i1"), impression("r2", "i2")]
  table = pa.concat_tables([
      pa.Table.from_pylist(rows[:1], schema=table_schema(IMPRESSIONS)),
      pa.Table.from_pylist(rows[1:], schema=table_schema(IMPRESSIONS)),
  ])

  reasons = faults.row_fault_reasons(
      IMPRESSIONS, table, known_request_ids={"r1", "r2"},
      known_item_ids={"i2"})

  assert reasons.to_pylist() == [faults.UNKNOWN_ITEM, None]


def test_duplicates_against_earlier_batches():
  batch = pa.RecordBatch.from_pylist(
      [request("r1"), request("r2"), request("r1"), request("r3", query=None),
       request("r3")],
      schema=table_schema(REQUESTS))

  reasons = faults.row_fault_reasons(REQUESTS, batch, seen_keys=["r2"])

  assert reasons.to_pylist() == [
      None, faults.DUPLICATE_KEY, faults.DUPLICATE_KEY, faults.NULL_VALUE, None]


def test_empty_requests_in_a_batch():
  batch = pa.RecordBatch.from_pylist(
      [request("r1"), request("r2")], schema=table_schema(REQUESTS))

  reasons = faults.row_fault_reasons(
      REQUESTS, batch, requests_with_impressions=pa.array(["r2"]))

  assert reasons.to_pylist() == [faults.EMPTY_REQUEST, None]


def test_batch_without_a_required_column_is_rejected():
  batch = pa.RecordBatch.from_pylist(
      [{"request_id": "r1"}], schema=pa.schema([("request_id", pa.string())]))

  with pytest.raises(ValueError, match="item_id"):
    faults.row_fault_reasons(CANDIDATES, batch)


def test_coerce_a_batch():
  batch = impressions_batch([
      impression("r1", "i1", exposed=True, position=0, purchased=True),
      impression("r1", "i2", purchased=True),  # A fault, left as it is.
      impression("r1", "i3", exposed=True, position=1, clicked=True,
                 purchased=True),
      impression("r1", "i4")])

  coerced, names = coercions.coerce(IMPRESSIONS, batch)

  assert coerced.column("clicked").to_pylist() == [True, False, True, False]
  assert names.to_pylist() == [coercions.CLICK_FROM_PURCHASE, None, None,
                               None]
  assert coerced.column("purchased").equals(batch.column("purchased"))


def test_coerce_null_profile_values_to_unknown():
  users = pa.RecordBatch.from_pylist([
      {"user_id": "u1", "age_bucket": None, "gender": None,
       "purchase_power": 3},
      {"user_id": "u2", "age_bucket": 4, "gender": "m",
       "purchase_power": None},
      {"user_id": "u3", "age_bucket": 1, "gender": "f", "purchase_power": 2},
  ], schema=table_schema(USERS))

  coerced, names = coercions.coerce(USERS, users)

  assert coerced.to_pylist() == [
      {"user_id": "u1", "age_bucket": -1, "gender": "", "purchase_power": 3},
      {"user_id": "u2", "age_bucket": 4, "gender": "m", "purchase_power": -1},
      {"user_id": "u3", "age_bucket": 1, "gender": "f", "purchase_power": 2}]
  assert names.to_pylist() == [coercions.UNKNOWN_PROFILE_VALUE] * 2 + [None]
