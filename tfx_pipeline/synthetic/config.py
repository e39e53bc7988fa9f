"""Parameters of the synthetic search-log world, each with the mechanism it drives."""

import dataclasses
import json
from typing import Optional

from models import checks

# 2026-10-01T00:00:00Z: the first request of the simulated period.
DEFAULT_START_TS = 1_790_812_800
DAY_S = 86_400
CATEGORY_VOCABULARIES = ("words", "numbered")
POPULARITY_LAWS = ("zipf", "lognormal")
FINE_RANKERS = ("parametric", "fitted")


@dataclasses.dataclass(frozen=True)
class WorldConfig:
  """Sizes and mechanism strengths of the simulated search engine.

  The hidden true utility of item i for request r (user u, intent category c_r,
  query brand b_r) is

      U = w_category [cat_i = c_r] + w_preference <a_u, v_i> / sqrt(dim)
          + w_popularity z_i + w_brand [brand_i = b_r]
          - w_price |log price_i - preferred log price of u| + eps,

  with z_i the standardised log popularity and eps ~ N(0, utility_noise) per
  (request, item) pair. U is never written to the logs.

  Attributes:
    num_requests: search requests in the simulated period.
    num_users: distinct users; None means max(50, num_requests // 4).
    num_items: catalog size.
    num_categories: product categories (at most 24, each named by a word that
      also appears in queries).
    brands_per_category: brands of each category (each brand in one category).
    embedding_dim: size of the hidden user-preference and item vectors.
    popularity_exponent: Zipf exponent of item popularity (long tail); item of
      popularity rank k has weight k^-exponent.
    category_concentration: Dirichlet concentration of a user's interest over
      categories (small: users stick to few categories).
    query_brand_prob: probability that a query names a brand.
    query_modifier_prob: probability that a query carries a modifier word.
    w_category, w_preference, w_popularity, w_brand, w_price, utility_noise:
      the terms of U above.
    retrieval_size: candidates retrieved per request (input of the coarse
      stage); drawn without replacement, favouring popular items and items of
      the query's category and brand.
    coarse_size: candidates the legacy coarse stage passes to the fine ranker
      (a noisy popularity-and-category score); these are the `impressions`.
    exposed_size: items shown: the top by fine score, positions 0..n-1.
    fine_head_share: share of the catalog, by popularity, the fine ranker has
      learned well. Its score is conf_i * U_det + (1 - conf_i) * prior + noise,
      where U_det is U without eps, conf_i rises from 0 (tail) to 1 (head)
      around that popularity quantile, and prior knows only category, brand
      and popularity plus a per-item bias: trained on exposed items only, the
      fine ranker is accurate on the head and biased on the tail.
    fine_tail_bias: standard deviation of the fine ranker's per-item bias.
    fine_noise: standard deviation of the fine ranker's per-pair noise.
    position_bias_power: click probability is scaled by (1 + position)^-power.
    click_threshold: P(click | exposed) = position bias * sigmoid(U - this).
    purchase_threshold: P(purchase | click) = sigmoid(U - this).
    out_of_scene_rate: expected purchases per request, in another scene, of
      retrieved items that were not shown, with probability rising steeply
      with U (threshold out_of_scene_threshold); made within the attribution
      window after the request.
    out_of_scene_threshold: utility around which out-of-scene purchase
      probability rises.
    out_of_scene_shown_weight: out-of-scene purchase propensity of a shown
      item relative to an item not shown (0: only items not shown are bought
      elsewhere; 1: shown items too, alike, e.g. bought later from the cart).
    background_purchase_rate: purchases per request unrelated to any request
      (random user, item by popularity, random time): noise for attribution.
    attribution_window_s: window after a request in which its out-of-scene
      purchases happen.
    days: length of the simulated period; request times are uniform in it.
    start_ts: unix time of the start of the period.
    candidate_log_share: share of requests, the newest, whose full retrieved
      candidate set is logged in `candidates` with fine scores: 0.2 logs
      the eval and validation periods of the default time split (10% and
      10%), so the model is evaluated, and its checkpoint chosen, on the
      sets it will rank.
    early_candidate_log_share: share of the other requests whose candidate
      set is logged too, drawn at random (a stream of its own, so the rest
      of the world does not change with it): production logs the coarse
      stage's input for a sample of traffic; the pipeline draws training
      negatives from these sets and chooses its checkpoint on those of the
      validation period.
    users_table_share: share of users present in the optional `users` table.
    history_mean_length: mean length of a user's pre-period purchase history
      (Poisson, capped at history_max_length).
    history_max_length: cap on the history length.
    requests_per_file: requests per written Parquet file (and per simulation
      chunk; part of the seeded random stream).
    seed: the world is a deterministic function of the config and this seed.

  Structural mechanisms (their defaults reproduce the original world exactly;
  `worlds.py` sets them per world, with the real-world reason for each):

    category_vocabulary: "words": the 24 fixed category words (num_categories
      at most 24); "numbered": `cat000`, `cat001`, ... for any number of
      categories, as in a catalog with a large leaf-category tree.
    popularity_law: "zipf": weight rank^-popularity_exponent; "lognormal":
      log weight ~ N(0, popularity_sigma), a broad body of mid-popular items
      with a thinner extreme head than a power law.
    popularity_sigma: standard deviation of the log weight under "lognormal".
    requests_per_user: users = num_requests / this when num_users is None
      (at least 50); 4 gives the original max(50, num_requests // 4).
    user_activity_sigma: users' request rates are lognormal with this sigma:
      larger means a few heavy users and many who search once.
    history_taste_weight: 0: a user's pre-period purchases are drawn by
      category interest and popularity only. Above 0: each past purchase is
      the user's pick among a few popular items of the category, chosen with
      probability proportional to exp(this * taste), taste being the personal
      part of U (preference fit and price fit), so history reveals taste and
      price level as real purchase histories do.
    purchase_preference_weight, purchase_price_weight: extra weight of the
      preference fit and of the price gap in purchase decisions (in-search
      purchase given a click, and out-of-scene purchases) on top of U; clicks
      follow U alone. 0 and 0: purchases follow U like clicks.
    retrieval_category_weight: weight of the query's category in retrieval's
      logits (0.5 log popularity + this [category match] + 1.5 [brand
      match] + Gumbel noise): large makes retrieval a text match on the
      category word padded with popular items, small a popularity list.
    fine_ranker: "parametric": the hidden-truth formula of fine_head_share;
      "fitted": a model fitted on a burn-in period's logs (`fitted_fine.py`):
      the burn-in is served by the parametric ranker (the previous production
      model), and the fitted one ranks the logged period.
    burn_in_share: burn-in requests as a share of num_requests (they precede
      the period, over days * this share, and are not written to the logs);
      must be above 0 when fine_ranker is "fitted".
    burn_in_exploration_share: share of burn-in requests in an exploration
      bucket that shows the fine ranker's candidates in random order, as
      production teams reserve a little random traffic to collect feedback
      that the ranker's own choices have not selected.
    query_words_per_category: each category is searched with this many
      words: its own name (the `category` column) and others that are not
      in the catalog (1: the name only). A request picks one, the k-th
      with weight 1 / k.
    shared_word_share: share of categories whose last query word is also a
      query word of the next category (an ambiguous word).
    w_repeat: utility of an item the user bought before (repeat purchases
      of consumables); 0: none.
    retrieval_history_weight: weight of "the user bought it before" in
      retrieval's logits (buy-again retrieval); 0: none.
    new_item_share: share of the catalog launched during the period, at a
      uniform time: not retrievable before it, never in a pre-period
      history or the burn-in.
    trend_sigma: an item's log popularity moves by trend * (time since the
      period's start) / (the period's length), trend ~ N(0, trend_sigma):
      what sold in the train period is not what sells in the eval period.
  """

  num_requests: int = 5_000
  num_users: Optional[int] = None
  num_items: int = 5_000
  num_categories: int = 24
  brands_per_category: int = 8
  embedding_dim: int = 8
  popularity_exponent: float = 1.1
  category_concentration: float = 0.3
  query_brand_prob: float = 0.25
  query_modifier_prob: float = 0.5
  w_category: float = 1.5
  w_preference: float = 1.0
  w_popularity: float = 0.5
  w_brand: float = 1.0
  w_price: float = 0.7
  utility_noise: float = 0.5
  retrieval_size: int = 500
  coarse_size: int = 100
  exposed_size: int = 10
  fine_head_share: float = 0.2
  fine_tail_bias: float = 1.0
  fine_noise: float = 0.3
  position_bias_power: float = 0.7
  click_threshold: float = 5.0
  purchase_threshold: float = 6.5
  out_of_scene_rate: float = 0.3
  out_of_scene_threshold: float = 4.5
  out_of_scene_shown_weight: float = 0.0
  background_purchase_rate: float = 0.03
  attribution_window_s: int = DAY_S
  days: int = 30
  start_ts: int = DEFAULT_START_TS
  candidate_log_share: float = 0.2
  early_candidate_log_share: float = 0.2
  users_table_share: float = 0.95
  history_mean_length: float = 4.0
  history_max_length: int = 20
  requests_per_file: int = 10_000
  seed: int = 0
  category_vocabulary: str = "words"
  popularity_law: str = "zipf"
  popularity_sigma: float = 2.0
  requests_per_user: float = 4.0
  user_activity_sigma: float = 1.0
  history_taste_weight: float = 0.0
  purchase_preference_weight: float = 0.0
  purchase_price_weight: float = 0.0
  retrieval_category_weight: float = 2.0
  fine_ranker: str = "parametric"
  burn_in_share: float = 0.0
  burn_in_exploration_share: float = 0.0
  query_words_per_category: int = 1
  shared_word_share: float = 0.0
  w_repeat: float = 0.0
  retrieval_history_weight: float = 0.0
  new_item_share: float = 0.0
  trend_sigma: float = 0.0

  def __post_init__(self):
    if self.num_requests < 1:
      raise ValueError(f"num_requests must be >= 1, got {self.num_requests}")
    for name, allowed in (("category_vocabulary", CATEGORY_VOCABULARIES),
                          ("popularity_law", POPULARITY_LAWS),
                          ("fine_ranker", FINE_RANKERS)):
      if getattr(self, name) not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, "
                         f"got {getattr(self, name)!r}")
    max_categories = 24 if self.category_vocabulary == "words" else 1000
    if not 1 <= self.num_categories <= max_categories:
      raise ValueError(
          f"num_categories must be in [1, {max_categories}] with "
          f"category_vocabulary={self.category_vocabulary!r}, "
          f"got {self.num_categories}")
    if self.fine_ranker == "fitted" and self.burn_in_requests < 1:
      raise ValueError("fine_ranker='fitted' needs burn_in_share > 0 "
                       "(a burn-in period to fit on)")
    if self.requests_per_user <= 0 or self.user_activity_sigma < 0:
      raise ValueError("requests_per_user must be > 0 and "
                       "user_activity_sigma >= 0")
    if not (self.exposed_size <= self.coarse_size <= self.retrieval_size
            <= self.num_items):
      raise ValueError(
          "need exposed_size <= coarse_size <= retrieval_size <= num_items, "
          f"got {self.exposed_size}, {self.coarse_size}, "
          f"{self.retrieval_size}, {self.num_items}")
    if self.num_items < self.num_categories * self.brands_per_category:
      raise ValueError("num_items must be at least "
                       "num_categories * brands_per_category")
    if self.query_words_per_category < 1:
      raise ValueError("query_words_per_category must be >= 1, got "
                       f"{self.query_words_per_category}")
    if min(self.w_repeat, self.retrieval_history_weight,
           self.trend_sigma) < 0:
      raise ValueError("w_repeat, retrieval_history_weight and trend_sigma "
                       "must be >= 0")
    checks.in_unit_interval(self, "candidate_log_share",
                            "early_candidate_log_share", "users_table_share",
                            "shared_word_share", "new_item_share",
                            "burn_in_share", "burn_in_exploration_share",
                            "fine_head_share", "query_brand_prob",
                            "query_modifier_prob")
    if self.out_of_scene_shown_weight < 0:
      raise ValueError("out_of_scene_shown_weight must be >= 0, got "
                       f"{self.out_of_scene_shown_weight}")
    if self.requests_per_file < 1:
      raise ValueError("requests_per_file must be >= 1")

  @property
  def users(self) -> int:
    return self.num_users or max(
        50, int(self.num_requests / self.requests_per_user))

  @property
  def burn_in_requests(self) -> int:
    return int(round(self.burn_in_share * self.num_requests))

  @property
  def end_ts(self) -> int:
    return self.start_ts + self.days * DAY_S


# The world a logs directory was generated from, beside its tables, so that
# a replay (`coarse-rank simulate-ab`) rebuilds the same world.
WORLD_FILE = "world.json"


def to_json(config: WorldConfig) -> str:
  return json.dumps(dataclasses.asdict(config), sort_keys=True)


def from_json(text: str, source: str = "world") -> WorldConfig:
  """The WorldConfig of `to_json`'s text.

  Raises:
    ValueError: not a JSON object of WorldConfig fields, naming `source`.
  """
  try:
    values = json.loads(text)
  except json.JSONDecodeError as e:
    raise ValueError(f"{source} is not JSON: {e}") from None
  fields = {f.name for f in dataclasses.fields(WorldConfig)}
  if not isinstance(values, dict) or set(values) - fields:
    unknown = sorted(set(values) - fields) if isinstance(values, dict) else []
    raise ValueError(f"{source} is not a world's settings"
                     + (f" (unknown fields: {', '.join(unknown)})"
                        if unknown else ""))
  return WorldConfig(**values)
