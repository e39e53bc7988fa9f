"""The validator's printed table, from a hand-made metrics report."""

from components.validation import metrics
from components.validation import report as report_lib


def _report(ndcg):
  table = {name: {"10": 0.5, "5%": None} for name in metrics.SLICES}
  return {"ks": [10, "5%"], "hitrate": {"model": table, "counts": table},
          "ndcg@10": ndcg, "requests": 1200, "purchases": 34,
          "head_min_exposures": 3, "blessed": False, "k_main": "5%",
          "reasons": ["model 0.100 < counts 0.200"]}


def test_rows_decision_reasons_and_plot():
  text = report_lib.format_report(_report({"model": 0.25, "counts": None}),
                                  "/m/1")
  lines = text.splitlines()
  assert lines[0].split() == ["scorer", "slice", "@10", "@5%"]
  assert lines[1].split() == ["model", metrics.SLICES[0], "0.500", "n/a"]
  assert len([l for l in lines if l.startswith(("model", "counts"))]) == (
      2 * len(metrics.SLICES))
  assert "eval requests 1,200, purchases 34, head items: >= 3" in text
  assert "decision on global hitrate@5%: NOT BLESSED\n  - model 0.100 < " \
         "counts 0.200" in text
  assert lines[-1] == "plot: /m/1/hitrate_at_k.png"


def test_a_scorer_without_ndcg_is_left_out_of_the_ndcg_line():
  for missing in (None, float("nan")):
    text = report_lib.format_report(
        _report({"counts": missing, "model": 0.6543}), "/m/1")
    assert "ndcg@10 on exposed lists: model 0.654\n" in text
