"""Writes a synthetic world to a logs directory as Parquet, chunk by chunk, and summarises it."""

import collections
import logging
import os
import time
import types
from typing import Dict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from components.raw_logs import contract as c
from tfx_pipeline.synthetic import config as config_lib
from tfx_pipeline.synthetic import simulate
from tfx_pipeline.synthetic import world as world_lib


# Logged requests whose candidate sets the fine ranker report reads.
_AGREEMENT_REQUESTS = 2_000


class OutputNotEmptyError(FileExistsError):
  """The logs directory already holds a table and overwriting was not asked."""


def _prepare(out_dir: str, overwrite: bool) -> None:
  existing = [t for t in c.TABLES
              if os.path.isdir(c.table_dir(out_dir, t))
              and os.listdir(c.table_dir(out_dir, t))]
  if existing and not overwrite:
    raise OutputNotEmptyError(
        f"{out_dir} already holds tables {', '.join(sorted(existing))}; "
        "pass --overwrite to replace them")
  for table in c.TABLES:
    folder = c.table_dir(out_dir, table)
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
      if name.endswith(".parquet"):
        os.remove(os.path.join(folder, name))


def _write(out_dir: str, table: str, part: int, data: pa.Table) -> None:
  pq.write_table(data, os.path.join(c.table_dir(out_dir, table),
                                    f"part-{part:05d}.parquet"))


class _Stats:
  """Running totals of the summary, updated chunk by chunk."""

  def __init__(self):
    self.rows = collections.Counter()
    self.counts = collections.Counter()
    self.candidate_logs = []

  def add(self, tables: Dict[str, pa.Table]) -> None:
    for name, data in tables.items():
      self.rows[name] += data.num_rows
    imp = tables.get(c.IMPRESSIONS)
    if imp is not None:
      self.counts["exposed"] += pc.sum(imp[c.EXPOSED]).as_py() or 0
      self.counts["clicked"] += pc.sum(imp[c.CLICKED]).as_py() or 0
      self.counts["purchased_in_search"] += (
          pc.sum(imp[c.PURCHASED]).as_py() or 0)
    tx = tables.get(c.TRANSACTIONS)
    if tx is not None:
      other = pc.not_equal(tx[c.SCENE], c.SEARCH_SCENE)
      self.counts["out_of_scene_transactions"] += pc.sum(other).as_py() or 0

  def add_candidates(self, logs: simulate.ChunkLogs) -> None:
    """Keeps candidate rows of the first logged requests (at most
    _AGREEMENT_REQUESTS) for the fine ranker's agreement report."""
    kept = sum(np.unique(l.cand_request).size for l in self.candidate_logs)
    if not logs.cand_request.size or kept >= _AGREEMENT_REQUESTS:
      return
    first = np.unique(logs.cand_request)[:_AGREEMENT_REQUESTS - kept]
    keep = np.isin(logs.cand_request, first)
    self.candidate_logs.append(types.SimpleNamespace(**{
        name: getattr(logs, name)[keep] for name in (
            "cand_request", "cand_item", "cand_fine_score", "cand_utility")}))

  def summary(self, cfg: config_lib.WorldConfig, seconds: float,
              world: world_lib.SyntheticWorld) -> dict:
    n = max(self.rows[c.REQUESTS], 1)
    exposed = max(self.counts["exposed"], 1)
    fine = {"ranker": cfg.fine_ranker}
    if world.fine_ranker is not None:
      fine.update(
          burn_in_requests=cfg.burn_in_requests,
          fitted_rows=int(world.fine_ranker.fitted_rows.size),
          agreement_by_burn_in_exposure=world.fine_agreement(
              self.candidate_logs))
    return {
        "seed": cfg.seed,
        "rows": dict(self.rows),
        "exposed_per_request": self.counts["exposed"] / n,
        "click_rate_of_exposed": self.counts["clicked"] / exposed,
        "in_search_purchases_per_request":
            self.counts["purchased_in_search"] / n,
        "out_of_scene_transactions": self.counts["out_of_scene_transactions"],
        "requests_with_candidates":
            self.rows[c.CANDIDATES] // cfg.retrieval_size,
        "fine_ranker": fine,
        "seconds": round(seconds, 2),
    }


def write_logs(out_dir: str, cfg: config_lib.WorldConfig,
               overwrite: bool = False) -> dict:
  """Simulates `cfg` and writes every raw-log table under `out_dir`, and
  the world's settings as `config.WORLD_FILE`.

  Returns a summary: rows per table and the simulated rates.
  """
  start = time.time()
  _prepare(out_dir, overwrite)
  with open(os.path.join(out_dir, config_lib.WORLD_FILE), "w") as f:
    f.write(config_lib.to_json(cfg))
  world = world_lib.SyntheticWorld(cfg)
  stats = _Stats()
  static = {c.ITEMS: world.items_table(), c.USERS: world.users_table()}
  for name, data in static.items():
    _write(out_dir, name, 0, data)
  stats.add(static)
  for part, chunk in enumerate(world.chunks()):
    for name, data in chunk.tables.items():
      _write(out_dir, name, part, data)
    stats.add(chunk.tables)
    stats.add_candidates(chunk.logs)
    logging.info("generated %d/%d requests (%.1fs)",
                 stats.rows[c.REQUESTS], cfg.num_requests,
                 time.time() - start)
  return stats.summary(cfg, time.time() - start, world)


def format_summary(summary: dict) -> str:
  lines = [f"{'table':<14}{'rows':>12}"]
  for name in c.TABLES:
    lines.append(f"{name:<14}{summary['rows'].get(name, 0):>12,}")
  for key, value in summary.items():
    if isinstance(value, dict):
      continue
    shown = f"{value:.4f}" if isinstance(value, float) else f"{value:,}"
    lines.append(f"{key:<34}{shown:>12}")
  fine = summary.get("fine_ranker", {})
  lines.append(f"{'fine_ranker':<34}{fine.get('ranker', ''):>12}")
  for bucket, row in fine.get("agreement_by_burn_in_exposure", {}).items():
    rho = "n/a" if row["spearman"] is None else f"{row['spearman']:.4f}"
    lines.append(f"{'  spearman(fine, utility) ' + bucket:<34}{rho:>12}")
  return "\n".join(lines)
