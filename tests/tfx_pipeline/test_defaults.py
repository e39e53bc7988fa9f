"""Leave-one-world-out choice of defaults, on hand-made effects."""

import pytest

from tfx_pipeline.ablation import defaults


def test_effects_are_paired_differences_averaged_over_the_cutoffs():
  runs = {"defaults": {"a": {"global@5%": 0.30, "global@10%": 0.40}},
          "no_head": {"a": {"global@5%": 0.26, "global@10%": 0.42}}}
  assert defaults.effects(runs, "defaults") == {
      "no_head": {"a": pytest.approx(-0.01)}}


@pytest.mark.parametrize("effects, outcome, chosen, helps", [
    # Helps everywhere: every fold chooses it and it helps the one left out.
    ({"a": 0.02, "b": 0.01, "c": 0.03, "d": 0.01}, defaults.ADOPT,
     [True] * 4, [True] * 4),
    # Hurts everywhere: every fold rejects it, and rightly.
    ({"a": -0.02, "b": -0.01, "c": -0.03, "d": -0.01}, defaults.CONFIRMED,
     [False] * 4, [True] * 4),
    # Large on one world only: chosen on every fold holding "a" (mean of
    # the others > 0), and it does not help "b", "c" or "d" when they are
    # left out; left out "a", the others reject it, wrongly.
    ({"a": 0.30, "b": -0.01, "c": -0.02, "d": -0.01}, defaults.UNDECIDED,
     [False, True, True, True], [False, False, False, False]),
])
def test_a_change_is_adopted_only_if_every_fold_agrees(effects, outcome,
                                                      chosen, helps):
  v = defaults.verdict("change", effects)
  assert v.outcome == outcome
  assert [f.chosen for f in v.folds] == chosen
  assert [f.helps for f in v.folds] == helps


def test_the_table_shows_effects_folds_and_outcome():
  v = defaults.verdict("w_in_batch=0", {"a": 0.02, "b": -0.01})
  lines = defaults.markdown_table([v], ["a", "b", "c"])
  # Left out a: b's -0.01 rejects it, but a gains: "no / no".
  assert lines[2] == ("| w_in_batch=0 | +0.020 | -0.010 | n/a | no / no | "
                      "yes / no | n/a | undecided: default kept |")
