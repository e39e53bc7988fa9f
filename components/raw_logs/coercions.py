"""Coercions of usable raw-log rows: a row kept with a value changed, and counted (DESIGN section 3).

A row fault (`faults.py`) sets a row aside; a coercion keeps a row whose
meaning is clear and makes it obey the contract. Every coercion has a name,
and the reports count the rows used that were coerced.
"""

from typing import Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.raw_logs import contract
from models import features as f

# Coercion names, in the order they are applied; a row gets the first.
# click_from_purchase: an impression exposed and purchased but not clicked
#   gets clicked = true. A purchase from the results implies the click
#   (purchase => click => exposure is the lists' label contract), and click
#   beacons are lost far more often than orders; coerced here, the items'
#   click statistics agree with the labels.
CLICK_FROM_PURCHASE = "click_from_purchase"
# unknown_profile_value: a user whose age_bucket, gender or purchase_power
#   is null keeps the rest of the profile; the null becomes the value a user
#   without a profile gets (`UNKNOWN_VALUES`).
UNKNOWN_PROFILE_VALUE = "unknown_profile_value"

COERCIONS = (CLICK_FROM_PURCHASE, UNKNOWN_PROFILE_VALUE)

# What a null in a nullable column of the contract is read as.
UNKNOWN_VALUES = {
    contract.AGE_BUCKET: f.UNKNOWN_INT,
    contract.GENDER: f.PAD_STRING,
    contract.PURCHASE_POWER: f.UNKNOWN_INT,
}

def coerce(table_name: str, batch: pa.RecordBatch
           ) -> Tuple[pa.RecordBatch, pa.StringArray]:
  """A batch with its coercions applied, and the coercion of every row.

  Rows with a row fault are coerced as well: callers count the coercions of
  the rows they use, and quarantine rows as they were read.

  Returns:
    (the coerced batch, a string array of `batch.num_rows` names from
    `COERCIONS`, null where a row is unchanged).
  """
  codes = np.full(batch.num_rows, -1, np.int8)
  columns = dict(zip(batch.schema.names, batch.columns))
  if table_name == contract.IMPRESSIONS:
    clicked, purchased = columns[contract.CLICKED], columns[contract.PURCHASED]
    missing = _mask(pc.and_(columns[contract.EXPOSED],
                            pc.and_(purchased, pc.invert(clicked))))
    codes[missing] = COERCIONS.index(CLICK_FROM_PURCHASE)
    columns[contract.CLICKED] = pc.or_(clicked, pa.array(missing))
  nullable = [c.name for c in contract.TABLES[table_name].columns
              if c.nullable and c.name in columns]
  for name in nullable:
    column = columns[name]
    codes[(codes < 0) & _mask(pc.is_null(column))] = COERCIONS.index(
        UNKNOWN_PROFILE_VALUE)
    columns[name] = pc.fill_null(
        column, pa.scalar(UNKNOWN_VALUES[name], column.type))
  coerced = pa.RecordBatch.from_arrays(list(columns.values()),
                                       schema=batch.schema)
  indices = pa.array(codes, mask=codes < 0)
  return coerced, pc.take(pa.array(COERCIONS, pa.string()), indices)


def _mask(values: pa.Array) -> np.ndarray:
  return pc.fill_null(values, False).to_numpy(zero_copy_only=False)
