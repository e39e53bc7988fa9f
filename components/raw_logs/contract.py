"""The raw search-log contract: tables, columns and their Arrow types (DESIGN section 3).

Every module that reads or writes raw logs takes table and column names from here.
"""

import dataclasses
from typing import Mapping, Optional, Tuple

import pyarrow as pa

# Table names.
REQUESTS = "requests"
USERS = "users"
ITEMS = "items"
IMPRESSIONS = "impressions"
TRANSACTIONS = "transactions"
CANDIDATES = "candidates"

# Column names.
REQUEST_ID = "request_id"
USER_ID = "user_id"
QUERY = "query"
TS = "ts"
USER_HISTORY = "user_history"
AGE_BUCKET = "age_bucket"
GENDER = "gender"
PURCHASE_POWER = "purchase_power"
ITEM_ID = "item_id"
CATEGORY = "category"
BRAND = "brand"
PRICE = "price"
FINE_SCORE = "fine_score"
EXPOSED = "exposed"
POSITION = "position"
CLICKED = "clicked"
PURCHASED = "purchased"
SCENE = "scene"

# The value of `scene` for purchases made from search results.
SEARCH_SCENE = "search"
# `position` of an impression that was not exposed.
NOT_EXPOSED_POSITION = -1


@dataclasses.dataclass(frozen=True)
class Column:
  name: str
  type: pa.DataType
  optional: bool = False
  # A null means "unknown": the row is kept with the column's unknown value
  # and counted as coerced (`coercions.py`), not quarantined.
  nullable: bool = False


@dataclasses.dataclass(frozen=True)
class Table:
  name: str
  columns: Tuple[Column, ...]
  optional: bool = False
  # Column whose values must be unique within the table, if any.
  unique_key: Optional[str] = None

  @property
  def required_columns(self) -> Tuple[Column, ...]:
    return tuple(c for c in self.columns if not c.optional)

  def arrow_schema(self) -> pa.Schema:
    """The Arrow schema of a file holding every column of the table."""
    return pa.schema([(c.name, c.type) for c in self.columns])


TABLES: Mapping[str, Table] = {
    t.name: t for t in (
        Table(REQUESTS, (
            Column(REQUEST_ID, pa.string()),
            Column(USER_ID, pa.string()),
            Column(QUERY, pa.string()),
            Column(TS, pa.int64()),
            Column(USER_HISTORY, pa.list_(pa.string())),
        ), unique_key=REQUEST_ID),
        Table(USERS, (
            Column(USER_ID, pa.string()),
            Column(AGE_BUCKET, pa.int32(), nullable=True),
            Column(GENDER, pa.string(), nullable=True),
            Column(PURCHASE_POWER, pa.int32(), nullable=True),
        ), optional=True, unique_key=USER_ID),
        Table(ITEMS, (
            Column(ITEM_ID, pa.string()),
            Column(CATEGORY, pa.string()),
            Column(BRAND, pa.string()),
            Column(PRICE, pa.float64()),
        ), unique_key=ITEM_ID),
        Table(IMPRESSIONS, (
            Column(REQUEST_ID, pa.string()),
            Column(ITEM_ID, pa.string()),
            Column(FINE_SCORE, pa.float64()),
            Column(EXPOSED, pa.bool_()),
            Column(POSITION, pa.int32()),
            Column(CLICKED, pa.bool_()),
            Column(PURCHASED, pa.bool_()),
        )),
        Table(TRANSACTIONS, (
            Column(USER_ID, pa.string()),
            Column(ITEM_ID, pa.string()),
            Column(TS, pa.int64()),
            Column(SCENE, pa.string()),
        )),
        Table(CANDIDATES, (
            Column(REQUEST_ID, pa.string()),
            Column(ITEM_ID, pa.string()),
            Column(FINE_SCORE, pa.float64(), optional=True),
        ), optional=True),
    )
}

# Columns that identify an entity; a null in one of them makes the row unusable,
# and so does an empty one: "" is the model's padding value, "absent".
ID_COLUMNS = (REQUEST_ID, USER_ID, ITEM_ID)
# The longest id accepted, in UTF-8 bytes, in an id column or as an item of
# `user_history`; a longer one makes its row a fault. Ids are variable-length
# strings everywhere downstream, but a bound keeps one bad row from costing
# memory or output size out of proportion.
MAX_ID_BYTES = 1024
# Columns holding model scores; NaN or infinity makes the row unusable.
SCORE_COLUMNS = (FINE_SCORE,)
# Columns holding unix times in seconds, and the period a time must lie in:
# [2000-01-01, 2100-01-01) UTC. A time outside it (0, -1, milliseconds)
# makes the row unusable.
TS_COLUMNS = (TS,)
MIN_TS = 946_684_800
END_TS = 4_102_444_800


def table_dir(logs_dir: str, table: str) -> str:
  """The folder holding the Parquet files of `table` under a logs directory."""
  return f"{logs_dir.rstrip('/')}/{table}"
