"""The world suite: named WorldConfig presets that differ in structure, not only in size.

Defaults of the model and the pipeline are to be chosen across these worlds,
never tuned to one. Each preset's mechanisms are chosen because real search
engines work that way (the reason is written beside each), never to make a
finding hold.

    world_config("sparse", num_requests=20_000, seed=1)
"""

import dataclasses
from typing import Any, Dict, Mapping, Optional

from tfx_pipeline.synthetic import config as config_lib

# The fitted fine ranker and its burn-in, shared by the worlds that use it:
# a production fine ranker is a model fitted on the logs of the model it
# replaces; that model served a period as long as the logged one.
# It ran with a small exploration bucket (random order for 5% of requests),
# as production teams keep to collect feedback its own choices did not select.
_FITTED_FINE = dict(fine_ranker="fitted", burn_in_share=1.0,
                    burn_in_exploration_share=0.05)

# Retrieval as an inverted index on the query's category word: a category
# match outweighs the popularity spread of a large catalog.
_TEXT_MATCH_RETRIEVAL = 8.0

_PRESETS: Dict[str, Dict[str, Any]] = {
    # The original world, unchanged: every field at its default.
    "default": {},
    # The default world with one change, so that its effect can be read
    # alone: the fine ranker is fitted on a burn-in's logs instead of being a
    # formula over the hidden utility.
    "learned_fine": dict(_FITTED_FINE),
    # The published method's setting (Taobao search): thousands of retrieved
    # candidates, ~5% of them reach the fine ranker, 10 shown.
    "paper_scale": dict(
        _FITTED_FINE,
        num_requests=20_000,
        num_items=50_000,
        retrieval_size=2_000,
        coarse_size=100,
        # Retrieval returns items relevant to the query (a text match on the
        # category word, padded with popular items), and each of the 24
        # categories holds about as many items as are retrieved: the coarse
        # stage chooses among relevant items, of many brands.
        retrieval_category_weight=_TEXT_MATCH_RETRIEVAL,
        brands_per_category=40,
        # Many merchants sell in every category, so sales have a broad body
        # of mid-popular items and a thinner extreme head than a power law:
        # lognormal, the usual alternative fit for sales distributions.
        popularity_law="lognormal",
        popularity_sigma=1.5,
        # Several sellers offer near-identical goods at different prices;
        # shoppers compare on the result page and at checkout, so price
        # weighs more in the purchase than in the click.
        purchase_price_weight=0.8,
        # Past purchases were made with the same taste and budget.
        history_taste_weight=2.0,
        # Shorter than the period: the previous model's logs from the weeks
        # before, at the same traffic.
        burn_in_share=0.5,
    ),
    # A long-tail marketplace of occasional shoppers (second-hand, handmade,
    # niche goods): ids alone cannot carry a model.
    "sparse": dict(
        _FITTED_FINE,
        num_items=40_000,
        # Most users search once or twice in a month; a few search a lot.
        requests_per_user=1.5,
        user_activity_sigma=1.5,
        history_mean_length=2.0,
        # Many niche categories of few items each, many small brands.
        category_vocabulary="numbered",
        num_categories=400,
        brands_per_category=16,
        # A flatter power law: a heavier tail holds more of the demand, and
        # most items are rarely shown.
        popularity_exponent=0.8,
        # Retrieval is a text match on the listing: items of the category the
        # query names come first, popular items only pad the set.
        retrieval_category_weight=_TEXT_MATCH_RETRIEVAL,
        # A niche query names exactly what is wanted, and with few sales per
        # item popularity says little about quality: the query match, not
        # popularity or a taste only ids could learn, decides.
        w_category=3.0,
        w_popularity=0.3,
        # Niche and unbranded goods are searched by what they are, seldom by
        # brand.
        query_brand_prob=0.08,
        history_taste_weight=2.0,
    ),
    # HELD OUT: no default of the model or the pipeline is chosen on this
    # world; it is reported apart, as the check of what the others chose.
    # A grocery and household marketplace, with three mechanisms no other
    # world has.
    "fresh_market": dict(
        _FITTED_FINE,
        num_items=20_000,
        category_vocabulary="numbered",
        num_categories=150,
        brands_per_category=10,
        popularity_exponent=1.0,
        retrieval_size=1_000,
        coarse_size=120,
        exposed_size=12,
        requests_per_user=3.0,
        query_brand_prob=0.15,
        # People name a product type in several ways (the catalog's leaf
        # name is only one of them: "soda", "soft drink", "pop"), and some
        # words name two types ("cream": dairy and cosmetics).
        query_words_per_category=3,
        shared_word_share=0.2,
        # Consumables are bought again and again: a past purchase is worth
        # more to its buyer, and retrieval offers it again ("buy again").
        w_repeat=1.5,
        retrieval_history_weight=2.0,
        history_mean_length=10.0,
        history_taste_weight=1.0,
        # The assortment turns over: new products launch through the
        # period, and what sells drifts (seasons, promotions), so the train
        # period's counts age.
        new_item_share=0.15,
        trend_sigma=1.0,
    ),
}
# Worlds no default is chosen on (reported apart) and the others, on which
# defaults are chosen leave-one-world-out.
HELD_OUT_WORLDS = ("fresh_market",)

WORLDS: Mapping[str, str] = {
    "default": "the original world: parametric fine ranker, 24 category "
               "words, Zipf popularity, 500 retrieved / 100 fine / 10 shown",
    "learned_fine": "the default world with the fine ranker fitted on a "
                    "burn-in period's logs (observable features only)",
    "paper_scale": "the published setting: 50k items in 24 categories, "
                   "2,000 retrieved / 100 fine / 10 shown, lognormal "
                   "popularity, price-driven purchases, fitted fine ranker",
    "sparse": "a long-tail marketplace: most users search once or twice, "
              "40k items in 400 categories with a heavy tail, few brand "
              "queries, query-driven purchases, fitted fine ranker",
    "fresh_market": "held out: a grocery and household marketplace, 20k "
                    "items in 150 categories searched with three words each "
                    "(some ambiguous), repeat purchases and buy-again "
                    "retrieval, new items and drifting popularity, 1,000 "
                    "retrieved / 120 fine / 12 shown, fitted fine ranker",
}
DEVELOPMENT_WORLDS = tuple(w for w in WORLDS if w not in HELD_OUT_WORLDS)


def world_config(name: str, num_requests: Optional[int] = None, seed: int = 0,
                 **overrides: Any) -> config_lib.WorldConfig:
  """The WorldConfig of world `name` (see WORLDS).

  Args:
    name: a key of WORLDS.
    num_requests: requests of the logged period; None keeps the preset's.
    seed: the world's seed.
    **overrides: any other WorldConfig field, applied last.

  Raises:
    ValueError: an unknown world, an unknown field or a bad value.
  """
  if name not in _PRESETS:
    raise ValueError(f"unknown world {name!r}; choose one of "
                     f"{', '.join(WORLDS)}")
  fields = {f.name for f in dataclasses.fields(config_lib.WorldConfig)}
  unknown = sorted(set(overrides) - fields)
  if unknown:
    raise ValueError(f"unknown WorldConfig fields: {', '.join(unknown)}")
  values = dict(_PRESETS[name], seed=seed, **overrides)
  if num_requests is not None:
    values["num_requests"] = num_requests
  return config_lib.WorldConfig(**values)
