"""Every feature key of the listwise and evaluation examples, their padding values and sample types."""

# Splits of the examples beside the request splits (train, valid, eval) that
# the Trainer reads: every catalog item, for the export; the validation
# requests' candidate sets in list-sized chunks, for the checkpoint choice.
CATALOG_SPLIT = "catalog"
VALID_CANDIDATES_SPLIT = "valid_candidates"

# Context features: one value per request (`[batch]` after parsing), except
# the history, a fixed-length list `[batch, history_length]`.
REQUEST_ID = "request_id"
USER_ID = "user_id"
QUERY = "query"
TS = "ts"
USER_HISTORY = "user_history"
AGE_BUCKET = "age_bucket"
GENDER = "gender"
PURCHASE_POWER = "purchase_power"

# 1 when the request's own interactions are in the train statistics and
# counts its entries carry (a train list), so the model leaves them out of
# the counts it reads; 0 for every other example.
IN_TRAIN_COUNTS = "in_train_counts"

CONTEXT_STRING_FEATURES = (REQUEST_ID, USER_ID, QUERY, GENDER)
CONTEXT_INT_FEATURES = (TS, AGE_BUCKET, PURCHASE_POWER, IN_TRAIN_COUNTS)

# Per-item list features, fixed length `[batch, list_size]`, padded.
ITEM_ID = "item_id"
CATEGORY = "category"
BRAND = "brand"
PRICE = "price"
LABEL_EXPOSURE = "label_exposure"
LABEL_CLICK = "label_click"
LABEL_PURCHASE = "label_purchase"
FINE_SCORE = "fine_score"
FINE_SCORE_MASK = "fine_score_mask"
# log of the sampling probability of a random negative; 0 for other entries.
SAMPLING_LOG_Q = "sampling_log_q"
# The item's exposures, clicks and in-search purchases over the train split's
# requests, and its sales (transactions in every scene) over the train
# period; in a train list, without the list's own request (leave one out).
ITEM_EXPOSURES = "item_exposures"
ITEM_CLICKS = "item_clicks"
ITEM_PURCHASES = "item_purchases"
ITEM_SALES = "item_sales"
ITEM_STATS = (ITEM_EXPOSURES, ITEM_CLICKS, ITEM_PURCHASES, ITEM_SALES)
SAMPLE_TYPE = "sample_type"
MASK = "mask"

LIST_STRING_FEATURES = (ITEM_ID, CATEGORY, BRAND)
LIST_FLOAT_FEATURES = (PRICE, FINE_SCORE, SAMPLING_LOG_Q) + ITEM_STATS
LIST_INT_FEATURES = (LABEL_EXPOSURE, LABEL_CLICK, LABEL_PURCHASE,
                     FINE_SCORE_MASK, SAMPLE_TYPE, MASK)

# Every feature of a training example by value type.
TRAIN_STRING_FEATURES = CONTEXT_STRING_FEATURES + (USER_HISTORY,
                                                   ) + LIST_STRING_FEATURES
TRAIN_FLOAT_FEATURES = LIST_FLOAT_FEATURES
TRAIN_INT_FEATURES = CONTEXT_INT_FEATURES + LIST_INT_FEATURES
LABELS = (LABEL_EXPOSURE, LABEL_CLICK, LABEL_PURCHASE)

# Padding: strings "" (also "absent", e.g. an unknown gender), numbers 0,
# unknown profile integers -1.
PAD_STRING = ""
PAD_FLOAT = 0.0
PAD_INT = 0
UNKNOWN_INT = -1

# `sample_type` of a list entry.
SAMPLE_PAD = 0
SAMPLE_EXPOSED = 1
SAMPLE_UNEXPOSED = 2
SAMPLE_OUT_OF_SCENE = 3
SAMPLE_RANDOM = 4
# An item of the catalog split (no request; every label 0).
SAMPLE_CATALOG = 5
# An item of the request's logged candidate set that did not reach the fine
# ranker: a negative in a train or validation list, any entry of a
# `valid_candidates` example.
SAMPLE_CANDIDATE = 6
SAMPLE_TYPE_NAMES = {
    SAMPLE_PAD: "pad",
    SAMPLE_EXPOSED: "exposed",
    SAMPLE_UNEXPOSED: "unexposed",
    SAMPLE_OUT_OF_SCENE: "out_of_scene_purchase",
    SAMPLE_RANDOM: "random_negative",
    SAMPLE_CATALOG: "catalog",
    SAMPLE_CANDIDATE: "candidate",
}
# Sampled negatives whose logits the logQ correction adjusts.
SAMPLED_NEGATIVES = (SAMPLE_RANDOM, SAMPLE_CANDIDATE)

# Evaluation examples: one per eval request, variable-length candidate lists
# `[num_candidates]` (the full coarse-ranking input set).
CAND_ITEM_ID = "cand_item_id"
CAND_FINE_SCORE = "cand_fine_score"
CAND_FINE_SCORE_MASK = "cand_fine_score_mask"
CAND_EXPOSED = "cand_exposed"
CAND_PURCHASE_IN_SCENE = "cand_purchase_in_scene"
CAND_PURCHASE_OUT_OF_SCENE = "cand_purchase_out_of_scene"
CAND_TRAIN_EXPOSURES = "cand_train_exposures"
CAND_TRAIN_SALES = "cand_train_sales"
# What the `counts` yardstick (components/validation/scorers.py) combines,
# per candidate: the mean over the query's tokens of the log of the smoothed
# share of the candidate's category (brand) among the click-or-purchase
# impressions of train requests with that token, and the share of the
# user's history items in the candidate's category.
CAND_QUERY_CATEGORY_LOG_SHARE = "cand_query_category_log_share"
CAND_QUERY_BRAND_LOG_SHARE = "cand_query_brand_log_share"
CAND_HISTORY_CATEGORY_SHARE = "cand_history_category_share"
# 1 when the set comes from the `candidates` table, 0 when it was built from
# impressions plus sampled catalog items.
CANDIDATES_LOGGED = "candidates_logged"
# Purchases of the request that are not in its candidate set (cannot be hit).
PURCHASES_OUTSIDE_CANDIDATES = "purchases_outside_candidates"

EVAL_STRING_FEATURES = CONTEXT_STRING_FEATURES + (USER_HISTORY,
                                                  CAND_ITEM_ID)
EVAL_FLOAT_FEATURES = (CAND_FINE_SCORE, CAND_QUERY_CATEGORY_LOG_SHARE,
                       CAND_QUERY_BRAND_LOG_SHARE,
                       CAND_HISTORY_CATEGORY_SHARE)
EVAL_INT_FEATURES = CONTEXT_INT_FEATURES + (
    CAND_FINE_SCORE_MASK, CAND_EXPOSED, CAND_PURCHASE_IN_SCENE,
    CAND_PURCHASE_OUT_OF_SCENE, CAND_TRAIN_EXPOSURES, CAND_TRAIN_SALES,
    CANDIDATES_LOGGED, PURCHASES_OUTSIDE_CANDIDATES)

# Transformed features (outputs of the Transform preprocessing_fn).
QUERY_TOKENS = "query_tokens"
PRICE_BUCKET = "price_bucket"
# Quantile buckets of the item statistics: log exposures, smoothed CTR
# (clicks per exposure) and smoothed CVR (purchases per click).
EXPOSURE_BUCKET = "exposure_bucket"
CTR_BUCKET = "ctr_bucket"
CVR_BUCKET = "cvr_bucket"
# The same statistics as numbers, 0 for an item without any: log(1 +
# exposures) and log(1 + sales) over their train maxima, and log(rate /
# overall rate) of the smoothed CTR and CVR.
EXPOSURE_SCORE = "exposure_score"
CTR_SCORE = "ctr_score"
CVR_SCORE = "cvr_score"
SALES_SCORE = "sales_score"
# log(1 + price), 0 for padding.
LOG_PRICE = "log_price"
# The raw item id, passed through Transform so the export can key every
# catalog item's embedding by its id.
ITEM_KEY = "item_key"

# Transform vocabularies (`vocab_filename`), looked up by the model and
# serving. The list's item ids and the user history share ITEM_VOCAB, so an
# item gets the same id in both.
ITEM_VOCAB = "item_id_vocab"
CATEGORY_VOCAB = "category_vocab"
BRAND_VOCAB = "brand_vocab"
QUERY_TOKEN_VOCAB = "query_token_vocab"
USER_VOCAB = "user_id_vocab"
GENDER_VOCAB = "gender_vocab"

# Integer ids after Transform: PAD_ID for padding / absent ("") values, then
# the out-of-vocabulary ids, then the known values.
PAD_ID = 0


def transformed_name(key: str) -> str:
  """Name of the Transform output for raw feature `key`."""
  return f"{key}_xf"
