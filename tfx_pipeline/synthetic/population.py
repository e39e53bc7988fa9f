"""The static part of the synthetic world: catalog, users and request arrivals."""

import dataclasses

import numpy as np

from tfx_pipeline.synthetic import config as config_lib

CATEGORY_WORDS = (
    "shoes", "phone", "laptop", "dress", "watch", "headphones", "backpack",
    "jacket", "camera", "lamp", "sofa", "kettle", "toy", "book", "perfume",
    "sunglasses", "bicycle", "tent", "blender", "shirt", "charger", "mug",
    "pillow", "guitar")
MODIFIER_WORDS = ("cheap", "new", "best", "red", "black", "small", "large",
                  "wireless", "women", "men", "kids", "sale")
GENDERS = ("f", "m", "u")
NUM_AGE_BUCKETS = 7
NUM_PURCHASE_POWER = 5


def category_names(cfg: config_lib.WorldConfig) -> np.ndarray:
  """The word naming each category, in items and in queries."""
  if cfg.category_vocabulary == "words":
    return np.asarray(CATEGORY_WORDS[:cfg.num_categories])
  return np.char.mod("cat%03d", np.arange(cfg.num_categories))


def _is_shared(category: int, share: float) -> bool:
  """Whether a category's last query word is the next one's too: a fixed
  spread of `share` of the categories (no random draw)."""
  return share > 0 and int(category * share) != int((category + 1) * share)


def category_words(cfg: config_lib.WorldConfig) -> np.ndarray:
  """str `[num_categories, query_words_per_category]`: the words each
  category is searched with, its name first. The others ("<name>-q<k>") are
  in no catalog column; with `shared_word_share`, a category's last word is
  replaced by the next category's last word, which then leads to both."""
  names = category_names(cfg)
  words = np.empty((names.shape[0], cfg.query_words_per_category),
                   dtype=object)
  words[:, 0] = names
  for k in range(1, cfg.query_words_per_category):
    words[:, k] = np.char.add(names, f"-q{k}").astype(object)
  if cfg.query_words_per_category > 1:
    for c in range(names.shape[0]):
      if _is_shared(c, cfg.shared_word_share):
        words[c, -1] = words[(c + 1) % names.shape[0], -1]
  return words


@dataclasses.dataclass(frozen=True)
class Catalog:
  """Items; arrays are indexed by item index, `[num_items]` unless noted."""
  category: np.ndarray  # int32 category index.
  brand: np.ndarray  # int32 global brand index.
  log_price: np.ndarray  # float32.
  popularity: np.ndarray  # float64, sums to 1 (hidden).
  z_popularity: np.ndarray  # float32 standardised log popularity (hidden).
  vector: np.ndarray  # float32 [num_items, dim] (hidden).
  fine_confidence: np.ndarray  # float32 in (0, 1): 1 = head (hidden).
  fine_bias: np.ndarray  # float32 fine ranker's per-item bias (hidden).
  # Launch time as a share of the period ((0, 1) for new items, -inf for
  # the others) and the log-popularity trend per period (hidden).
  launch: np.ndarray  # float64.
  trend: np.ndarray  # float32.
  # Items grouped by category, with cumulative within-category popularity
  # shifted by the category index, for vectorised sampling.
  by_category: np.ndarray  # int32 item indices sorted by category.
  by_category_cum: np.ndarray  # float64, in (c, c + 1] for category c.
  brand_popularity_cum: np.ndarray  # float64, same trick over brands.
  brand_of_category: np.ndarray  # int32 [num_categories, brands_per_category]


@dataclasses.dataclass(frozen=True)
class Users:
  """Users; arrays are indexed by user index, `[num_users]` unless noted."""
  vector: np.ndarray  # float32 [num_users, dim] (hidden).
  category_cum: np.ndarray  # float64 [num_users, num_categories] (hidden).
  age_bucket: np.ndarray  # int32.
  gender: np.ndarray  # int32 index into GENDERS.
  purchase_power: np.ndarray  # int32 in 1..NUM_PURCHASE_POWER.
  preferred_log_price: np.ndarray  # float32 (hidden).
  in_users_table: np.ndarray  # bool.
  history_offsets: np.ndarray  # int64 [num_users + 1].
  history_items: np.ndarray  # int32 item indices, newest first per user.


@dataclasses.dataclass(frozen=True)
class Arrivals:
  """Requests in time order; arrays are `[num_requests]`."""
  ts: np.ndarray  # int64 unix seconds, non-decreasing.
  user: np.ndarray  # int32 user index.
  intent: np.ndarray  # int32 category index (hidden).
  brand: np.ndarray  # int32 brand index named in the query, -1 if none.
  modifier: np.ndarray  # int32 index into MODIFIER_WORDS, -1 if none.
  activity: np.ndarray  # float64 [num_users] request rate of each user.
  word: np.ndarray  # int32 index into category_words' row of the intent.


def _sample_grouped(rng: np.random.Generator, cum: np.ndarray,
                    group: np.ndarray) -> np.ndarray:
  """Positions in `cum` drawn within each `group` by the shifted-cumsum trick."""
  draws = group + rng.random(group.shape[0])
  return np.minimum(np.searchsorted(cum, draws, side="left"), cum.shape[0] - 1)


def _grouped_cumsum(group: np.ndarray, weight: np.ndarray):
  """Order by group and cumulative normalised weights shifted by group index."""
  order = np.argsort(group, kind="stable")
  g = group[order]
  w = weight[order]
  totals = np.bincount(g, weights=w, minlength=g.max() + 1)
  cum = np.cumsum(w)
  starts = np.concatenate([[0.0], np.cumsum(totals)[:-1]])
  shifted = g + (cum - starts[g]) / totals[g]
  # Pin each group's last entry to exactly g + 1 so rounding never lets a
  # draw spill into the next group.
  last = np.flatnonzero(np.diff(g, append=g[-1] + 1))
  shifted[last] = g[last] + 1.0
  return order.astype(np.int32), shifted


def make_catalog(cfg: config_lib.WorldConfig,
                 rng: np.random.Generator) -> Catalog:
  """Items with long-tailed popularity, category, brand, price and a vector."""
  n, c, dim = cfg.num_items, cfg.num_categories, cfg.embedding_dim
  # Category sizes are themselves skewed; every category holds at least
  # brands_per_category items so each brand has an item.
  category_weight = 1.0 / np.arange(1, c + 1) ** 0.7
  category = np.concatenate([
      np.repeat(np.arange(c), cfg.brands_per_category),
      rng.choice(c, size=n - c * cfg.brands_per_category,
                 p=category_weight / category_weight.sum())]).astype(np.int32)
  rng.shuffle(category)
  brand_of_category = np.arange(c * cfg.brands_per_category, dtype=np.int32
                                ).reshape(c, cfg.brands_per_category)
  brand_weight = 1.0 / np.arange(1, cfg.brands_per_category + 1)
  local_brand = np.empty(n, dtype=np.int32)
  for k in range(c):  # Loop over categories only, not items.
    members = np.flatnonzero(category == k)
    local = np.arange(members.size) % cfg.brands_per_category
    extra = rng.choice(cfg.brands_per_category, size=members.size,
                       p=brand_weight / brand_weight.sum())
    local_brand[members] = np.where(
        np.arange(members.size) < cfg.brands_per_category, local, extra)
  brand = brand_of_category[category, local_brand]

  if cfg.popularity_law == "zipf":
    rank = rng.permutation(n) + 1
    popularity = rank ** -cfg.popularity_exponent
  else:
    log_weight = rng.normal(0.0, cfg.popularity_sigma, size=n)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(-log_weight, kind="stable")] = np.arange(1, n + 1)
    popularity = np.exp(log_weight - log_weight.max())
  popularity /= popularity.sum()
  log_pop = np.log(popularity)
  z_pop = ((log_pop - log_pop.mean()) / log_pop.std()).astype(np.float32)

  category_price = rng.normal(3.5, 1.0, size=c)
  log_price = (category_price[category] + rng.normal(0.0, 0.5, size=n)
               ).astype(np.float32)
  centroids = rng.normal(0.0, 1.0, size=(c, dim))
  vector = (centroids[category] + rng.normal(0.0, 0.7, size=(n, dim))
            ).astype(np.float32)

  # Popularity quantile of each item: 0 = least popular, 1 = most popular.
  quantile = 1.0 - (rank - 1) / max(n - 1, 1)
  head_cut = 1.0 - cfg.fine_head_share
  fine_confidence = (1.0 / (1.0 + np.exp(-(quantile - head_cut) / 0.04))
                     ).astype(np.float32)
  fine_bias = rng.normal(0.0, cfg.fine_tail_bias, size=n).astype(np.float32)

  launch = np.full(n, -np.inf)
  trend = np.zeros(n, np.float32)
  if cfg.new_item_share or cfg.trend_sigma:
    # A stream of its own: worlds without these mechanisms are unchanged.
    extra = np.random.default_rng([cfg.seed, 5])
    new = extra.random(n) < cfg.new_item_share
    launch[new] = extra.random(int(new.sum()))
    trend = extra.normal(0.0, cfg.trend_sigma, size=n).astype(np.float32)
  # Pre-period purchases (histories) are drawn among items already out.
  by_category, by_category_cum = _grouped_cumsum(
      category, popularity * (launch < 0) + 1e-300)
  brand_pop = np.bincount(brand, weights=popularity,
                          minlength=brand_of_category.size)
  _, brand_cum = _grouped_cumsum(
      np.repeat(np.arange(c), cfg.brands_per_category), brand_pop)
  return Catalog(category=category, brand=brand.astype(np.int32),
                 log_price=log_price, popularity=popularity,
                 z_popularity=z_pop, vector=vector,
                 fine_confidence=fine_confidence, fine_bias=fine_bias,
                 launch=launch, trend=trend,
                 by_category=by_category, by_category_cum=by_category_cum,
                 brand_popularity_cum=brand_cum,
                 brand_of_category=brand_of_category)


def sample_items_in_categories(catalog: Catalog, rng: np.random.Generator,
                               categories: np.ndarray) -> np.ndarray:
  """One item per entry of `categories`, by popularity within the category."""
  pos = _sample_grouped(rng, catalog.by_category_cum, categories)
  return catalog.by_category[pos]


def make_users(cfg: config_lib.WorldConfig, catalog: Catalog,
               rng: np.random.Generator) -> Users:
  """Users with category interests, a preference vector, profile, history."""
  n, c = cfg.users, cfg.num_categories
  interest = rng.dirichlet(np.full(c, cfg.category_concentration), size=n)
  category_cum = np.cumsum(interest, axis=1)
  category_cum[:, -1] = 1.0
  vector = rng.normal(0.0, 1.0, size=(n, cfg.embedding_dim)).astype(np.float32)
  age_bucket = rng.integers(0, NUM_AGE_BUCKETS, size=n).astype(np.int32)
  gender = rng.choice(len(GENDERS), size=n, p=(0.48, 0.47, 0.05)
                      ).astype(np.int32)
  purchase_power = rng.integers(1, NUM_PURCHASE_POWER + 1, size=n
                                ).astype(np.int32)
  preferred_log_price = (3.5 + 0.4 * (purchase_power - 3)
                         + rng.normal(0.0, 0.3, size=n)).astype(np.float32)
  in_users_table = rng.random(n) < cfg.users_table_share

  lengths = np.minimum(rng.poisson(cfg.history_mean_length, size=n),
                       cfg.history_max_length)
  offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
  owner = np.repeat(np.arange(n), lengths)
  history_categories = sample_user_categories(category_cum, rng, owner)
  if cfg.history_taste_weight > 0:
    history_items = _pick_by_taste(cfg, catalog, vector, preferred_log_price,
                                   rng, owner, history_categories)
  else:
    history_items = sample_items_in_categories(catalog, rng,
                                               history_categories)
  return Users(vector=vector, category_cum=category_cum,
               age_bucket=age_bucket, gender=gender,
               purchase_power=purchase_power,
               preferred_log_price=preferred_log_price,
               in_users_table=in_users_table, history_offsets=offsets,
               history_items=history_items.astype(np.int32))


# Popular items of the category a past purchase was chosen among.
_HISTORY_CHOICES = 8


def _pick_by_taste(cfg: config_lib.WorldConfig, catalog: Catalog,
                   user_vector: np.ndarray, preferred_log_price: np.ndarray,
                   rng: np.random.Generator, owner: np.ndarray,
                   categories: np.ndarray) -> np.ndarray:
  """Each past purchase: of a few popular items of its category, the one the
  owner's taste (preference fit minus price gap) favours, softmax-sampled."""
  options = sample_items_in_categories(
      catalog, rng, np.repeat(categories, _HISTORY_CHOICES)
  ).reshape(-1, _HISTORY_CHOICES)
  pref = np.einsum("hkd,hd->hk", catalog.vector[options], user_vector[owner]
                   ) / np.sqrt(cfg.embedding_dim)
  gap = np.abs(catalog.log_price[options]
               - preferred_log_price[owner][:, None])
  taste = cfg.w_preference * pref - cfg.w_price * gap
  pick = np.argmax(cfg.history_taste_weight * taste
                   + rng.gumbel(size=options.shape), axis=1)
  return options[np.arange(options.shape[0]), pick]


def sample_user_categories(category_cum: np.ndarray, rng: np.random.Generator,
                           users: np.ndarray) -> np.ndarray:
  """One category per entry of `users`, from that user's interests."""
  draws = rng.random(users.shape[0])[:, None]
  return np.minimum((category_cum[users] < draws).sum(axis=1),
                    category_cum.shape[1] - 1).astype(np.int32)


def make_arrivals(cfg: config_lib.WorldConfig, catalog: Catalog, users: Users,
                  rng: np.random.Generator, num_requests=None, start_ts=None,
                  end_ts=None, activity=None) -> Arrivals:
  """Requests in time order, with users by activity and query intents.

  By default the requests of the period; the burn-in passes its own count and
  times and the period's `activity`, so the same users are the active ones.
  """
  n = cfg.num_requests if num_requests is None else num_requests
  start = cfg.start_ts if start_ts is None else start_ts
  end = cfg.end_ts if end_ts is None else end_ts
  ts = np.sort(rng.integers(start, end, size=n)).astype(np.int64)
  if activity is None:
    activity = rng.lognormal(0.0, cfg.user_activity_sigma, size=cfg.users)
  user = rng.choice(cfg.users, size=n, p=activity / activity.sum()
                    ).astype(np.int32)
  intent = sample_user_categories(users.category_cum, rng, user)
  brand_pos = _sample_grouped(rng, catalog.brand_popularity_cum, intent)
  brand = np.where(rng.random(n) < cfg.query_brand_prob,
                   brand_pos.astype(np.int32), -1).astype(np.int32)
  modifier = np.where(rng.random(n) < cfg.query_modifier_prob,
                      rng.integers(0, len(MODIFIER_WORDS), size=n),
                      -1).astype(np.int32)
  word = np.zeros(n, np.int32)
  if cfg.query_words_per_category > 1:  # The last draw: nothing else moves.
    weight = 1.0 / np.arange(1, cfg.query_words_per_category + 1)
    word = rng.choice(weight.size, size=n, p=weight / weight.sum()
                      ).astype(np.int32)
  return Arrivals(ts=ts, user=user, intent=intent, brand=brand,
                  modifier=modifier, activity=activity, word=word)
