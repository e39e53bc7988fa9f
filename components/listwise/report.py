"""The reconciliation report: per table, rows read = rows used + rows quarantined."""

import json
from typing import Dict, Iterable, List, Mapping, Sequence, Tuple

from components.listwise import split as split_lib
from components.raw_logs import contract as c

# Count keys are (scope, kind): scope is a table or "lists"/"attribution";
# kind is "read", "used", "quarantined:<reason>", "coerced:<coercion>" (rows
# used that were coerced), "skipped_files" or a named statistic.
READ = "read"
USED = "used"
QUARANTINED = "quarantined:"
COERCED = "coerced:"
SKIPPED_FILES = "skipped_files"
LISTS = "lists"
ATTRIBUTION = "attribution"


class ReconciliationError(RuntimeError):
  """Rows were lost: read != used + quarantined, or lists != requests used."""


class QuarantineLimitError(RuntimeError):
  """A table quarantined more than the allowed share of its rows."""


def quarantine_key(reason: str) -> str:
  return QUARANTINED + reason


def coercion_key(coercion: str) -> str:
  return COERCED + coercion


def skipped_file_counts(skipped: Mapping[str, Sequence[str]]
                        ) -> List[Tuple[Tuple[str, str], int]]:
  """Counts of the entries of table folders that were not read."""
  return [((table, SKIPPED_FILES), len(names))
          for table, names in skipped.items() if names]


def build_report(counts: Iterable[Tuple[Tuple[str, str], int]],
                 cuts: split_lib.Cuts) -> dict:
  """Turns summed counters into the report dictionary."""
  totals: Dict[Tuple[str, str], int] = {}
  for key, value in counts:
    totals[tuple(key)] = totals.get(tuple(key), 0) + int(value)
  tables = {}
  def by_prefix(table, prefix):
    return {kind[len(prefix):]: n
            for (scope, kind), n in sorted(totals.items())
            if scope == table and kind.startswith(prefix)}

  for table in c.TABLES:
    reasons = by_prefix(table, QUARANTINED)
    tables[table] = {"read": totals.get((table, READ), 0),
                     "used": totals.get((table, USED), 0),
                     "quarantined": sum(reasons.values()),
                     "quarantined_by_reason": reasons,
                     "coerced_by_reason": by_prefix(table, COERCED),
                     SKIPPED_FILES: totals.get((table, SKIPPED_FILES), 0)}
  extra = {scope: {kind: n for (s, kind), n in sorted(totals.items())
                   if s == scope}
           for scope in (LISTS, ATTRIBUTION)}
  return {"tables": tables, LISTS: extra[LISTS],
          ATTRIBUTION: extra[ATTRIBUTION], "valid_cut_ts": cuts.valid_ts,
          "eval_cut_ts": cuts.eval_ts}


def check(report: Mapping, max_quarantine_share: float) -> None:
  """Raises if rows were lost or a table quarantined too much.

  Raises:
    ReconciliationError: read != used + quarantined for a table, or the
      train, validation and eval lists do not add up to the requests used
      (a bug).
    QuarantineLimitError: quarantined / read > max_quarantine_share.
  """
  for table, row in report["tables"].items():
    if row["read"] != row["used"] + row["quarantined"]:
      raise ReconciliationError(
          f"table {table}: read {row['read']} != used {row['used']} + "
          f"quarantined {row['quarantined']}\n{format_report(report)}")
  lists = sum(report[LISTS].get(split, 0) for split in split_lib.SPLITS)
  requests_used = report["tables"][c.REQUESTS]["used"]
  if lists != requests_used:
    raise ReconciliationError(
        f"lists: {lists} built != {requests_used} requests used\n"
        f"{format_report(report)}")
  over = [t for t, row in report["tables"].items()
          if row["read"] and row["quarantined"] / row["read"]
          > max_quarantine_share]
  if over:
    raise QuarantineLimitError(
        f"quarantine share above {max_quarantine_share:.1%} in "
        f"{', '.join(over)}\n{format_report(report)}")


def format_report(report: Mapping) -> str:
  lines = [f"{'table':<14}{'read':>12}{'used':>12}{'quarantined':>13}"]
  for table, row in report["tables"].items():
    lines.append(f"{table:<14}{row['read']:>12,}{row['used']:>12,}"
                 f"{row['quarantined']:>13,}")
    for reason, n in row["quarantined_by_reason"].items():
      lines.append(f"  {reason:<36}{n:>13,}")
    for coercion, n in row["coerced_by_reason"].items():
      lines.append(f"  coerced (used): {coercion} {n:,}")
    if row[SKIPPED_FILES]:
      lines.append(f"  skipped, not .parquet files: {row[SKIPPED_FILES]:,}")
  for scope in (LISTS, ATTRIBUTION):
    for kind, n in report[scope].items():
      lines.append(f"{scope}.{kind:<32}{n:>12,}")
  return "\n".join(lines)


def dumps(report: Mapping) -> str:
  return json.dumps(report, indent=2, sort_keys=True)
