"""The planted parameters of the sample data: every effect the analyses must recover is set here.

Numbers follow docs/domain.md (AOV ~290 yuan, +40% YoY, ad conversion < 3%, presale ~40% of
festival orders, Douyin ROAS ~4.2, Xiaohongshu ~1.8 against 2.5, ...). The generator reads only
this module for its parameters, and truth.json echoes them, so there is one place to change them.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

START = dt.date(2024, 1, 1)           # a Monday: week w covers days 7w .. 7w+6
END = dt.date(2025, 12, 31)
EVENTS_FROM = dt.date(2025, 1, 1)     # clickstream retention: events are logged for 2025 only
UTC_OFFSET_HOURS = 8                  # Asia/Shanghai has no daylight saving time
DEFAULT_SEED = 20251111

# ---------------------------------------------------------------------------------------------
# Channels. Order of PAID is the order of the media arrays.
PAID = ("search_ads", "feed_ads", "douyin", "kuaishou", "wechat_channels", "xiaohongshu")
NON_PAID = ("natural_search", "direct", "wecom", "mini_program", "sms_push", "referral")
CHANNELS = PAID + NON_PAID


@dataclass(frozen=True)
class Media:
    """Weekly media-mix process of one paid channel (see docs/truth-schema.md)."""

    mean_weekly_spend_2024: float      # yuan
    growth_2025: float                 # 2025 spend level / 2024 level
    adstock: float                     # θ: a_w = s_w + θ a_{w-1}, a_0 = s_0
    shape: float                       # Hill shape s
    half_saturation_ratio: float       # K = ratio × mean steady-state adstock (1 = half saturated on average)
    target_true_roas: float            # β is solved so the two-year expected ROAS equals this
    last_touch_self: float             # share of the channel's caused orders whose last touch is the channel itself
    cpm: float                         # yuan per 1000 impressions (ad_spend.impressions)
    click_rate: float                  # clicks / impressions


MEDIA = {
    # search_ads: the true ROAS is ~3, but brand-keyword clicks of would-buy-anyway customers inflate its last click.
    "search_ads": Media(30_000, 1.35, 0.10, 1.2, 0.9, 3.0, 1.00, 40.0, 0.030),
    "feed_ads": Media(22_000, 1.30, 0.30, 1.5, 1.6, 2.3, 0.95, 25.0, 0.012),
    "douyin": Media(20_000, 1.80, 0.40, 1.0, 3.0, 4.2, 0.92, 30.0, 0.015),
    "kuaishou": Media(9_000, 0.90, 0.20, 2.0, 0.5, 0.9, 0.95, 22.0, 0.010),
    "wechat_channels": Media(10_000, 1.50, 0.50, 1.3, 1.3, 2.6, 0.95, 28.0, 0.011),
    # xiaohongshu seeds interest: most of its orders close later through search (its last click is low).
    "xiaohongshu": Media(14_000, 1.05, 0.70, 1.0, 0.7, 1.8, 0.40, 35.0, 0.020),
}
# Dark flights: each paid channel stops spending (spend, impressions, clicks = 0) for DARK_FLIGHTS
# flights of DARK_WEEKS whole Monday–Sunday weeks, at its own times: never on a promotion week
# (presale start to end, + DARK_PROMO_BUFFER_DAYS after non-member-day promotions), never in the first
# DARK_FIRST_WEEK weeks or the last two, ≥ DARK_MIN_GAP_WEEKS apart, and at most DARK_MAX_CHANNELS
# channels dark in the same week. Lit weeks vary as before (0.3×–2× their mean).
DARK_FLIGHTS = (4, 5)                 # flights per channel (inclusive range)
DARK_WEEKS = (1, 3)                   # weeks per flight (inclusive range) ...
DARK_WEEKS_P = (0.2, 0.4, 0.4)        # ... drawn with these probabilities
DARK_MIN_GAP_WEEKS = 3
DARK_MAX_CHANNELS = 2
DARK_FIRST_WEEK = 3
DARK_PROMO_BUFFER_DAYS = 7
# Caused orders that do not close on their own channel close through these (last touch).
REROUTE = {"search_ads": 0.55, "natural_search": 0.45}

# Baseline ("would buy anyway") orders by last-touch channel. search_ads' share is the brand-keyword leak.
BASE_CHANNEL_SHARE = {
    "natural_search": 0.30, "direct": 0.16, "wecom": 0.09, "mini_program": 0.12, "sms_push": 0.05,
    "referral": 0.04, "search_ads": 0.05, "feed_ads": 0.02, "douyin": 0.02, "kuaishou": 0.01,
    "wechat_channels": 0.015, "xiaohongshu": 0.00,
}

DEVICES = ("app", "mini_program", "h5", "pc")
_SOCIAL = (0.30, 0.20, 0.45, 0.05)
DEVICE_MIX = {
    "search_ads": (0.45, 0.10, 0.25, 0.20), "feed_ads": (0.55, 0.15, 0.25, 0.05), "douyin": _SOCIAL,
    "kuaishou": _SOCIAL, "wechat_channels": (0.10, 0.55, 0.33, 0.02), "xiaohongshu": _SOCIAL,
    "natural_search": (0.60, 0.10, 0.15, 0.15), "direct": (0.65, 0.10, 0.10, 0.15), "wecom": (0.15, 0.70, 0.15, 0.00),
    "mini_program": (0.00, 1.00, 0.00, 0.00), "sms_push": (0.60, 0.05, 0.35, 0.00), "referral": (0.30, 0.40, 0.30, 0.00),
}

# ---------------------------------------------------------------------------------------------
# Demand
CATEGORIES = ("apparel", "beauty", "digital", "home", "snacks", "baby", "pets", "books")
CONTROL_CATEGORIES = ("pets", "books")          # never promoted, never cannibalised
CATEGORY_ORDER_SHARE = (0.22, 0.16, 0.08, 0.14, 0.16, 0.10, 0.08, 0.06)
CATEGORY_MEAN_GMV = (280.0, 320.0, 900.0, 300.0, 110.0, 260.0, 190.0, 85.0)   # paid value per order, yuan
ORDER_VALUE_SIGMA = 0.55                         # lognormal σ of an order's value
SKUS_PER_CATEGORY = 300

BASE_ORDERS_PER_DAY_2025 = 190.0                 # baseline (non-media) orders/day, 2025 average before promotions
YEARLY_GROWTH = 1.45                             # baseline demand trend, per year
WEEKDAY_FACTOR = (0.96, 0.95, 0.96, 0.98, 1.02, 1.07, 1.06)   # Mon..Sun (normalised in the generator)
# Yearly seasonality (smooth): 1 + Σ a cos(2πk·doy/365.25) + b sin(...)
YEARLY_FOURIER = ((0.05, 0.03), (0.02, -0.015))

REFUND_RATE = 0.03
REFUND_RATE_PROMO = 0.06

# ---------------------------------------------------------------------------------------------
# Funnel: per-session step rates = base × device × channel × customer × period factors.
STEPS = ("pdp_view", "add_to_cart", "checkout", "pay")
BASE_STEP_RATE = (0.62, 0.165, 0.55, 0.86)
DEVICE_FACTOR = {
    "app": (1.05, 1.05, 1.05, 1.04), "mini_program": (1.00, 1.00, 1.00, 1.03),
    "h5": (0.92, 0.90, 0.95, 0.80), "pc": (0.98, 0.95, 0.97, 1.00),
}
CHANNEL_CART_FACTOR = {      # on add_to_cart: ad traffic converts below 3%
    "search_ads": 0.75, "feed_ads": 0.60, "douyin": 0.65, "kuaishou": 0.60, "wechat_channels": 0.60,
    "xiaohongshu": 0.55, "natural_search": 0.95, "direct": 1.05, "wecom": 1.30, "mini_program": 1.20,
    "sms_push": 0.95, "referral": 1.10,
}
NEW_FACTOR = (1.00, 0.80, 0.90, 1.00)        # a "new" session: < 30 days after the user's signup
RETURNING_FACTOR = (1.00, 1.05, 1.00, 1.00)
NEW_CUSTOMER_DAYS = 30
PEAK_PAY_FACTOR = 0.88                       # checkout→pay during Double 11 (payment congestion)
# Median seconds from the previous step's first event to this step's first event (lognormal gaps).
GAP_MEDIAN_S = {"pdp_view": 25.0, "add_to_cart": 95.0, "checkout": 60.0, "pay": 40.0}
PEAK_PAY_GAP_MEDIAN_S = 150.0
GAP_SIGMA = 0.6
SESSION_MAX_S = 1790                          # every event within 30 minutes of the session start
# Detail-page screens: P(continue from screen k to k+1), k = 1..5; 60% of those reaching screen 3 leave there.
SCREEN_CONTINUE = (0.60, 0.80, 0.40, 0.75, 0.70)
MAX_SCREEN = 6
PDP_EXTRA_VIEWS_MEAN = 2.0                    # pdp views in a detail-page session = 1 + Poisson(mean × engagement)
EXTRA_CART_MEAN = 0.12                        # carts in a carting session = 1 + Poisson(mean × cart propensity)
PRE_PDP_SEARCH = 0.35                         # share of sessions with a search before the detail page
PRE_PDP_RECOMMEND = 0.20

# ---------------------------------------------------------------------------------------------
# Users
USERS = 300_000
USERS_BEFORE_2024 = 0.35                     # share signed up in 2022–2023
MEMBER_SHARE = 0.15
MEMBER_TIERS = ("silver", "gold", "platinum")
MEMBER_TIER_P = (0.60, 0.30, 0.10)
ACTIVITY_SHAPE = 0.5                         # gamma shape of a user's visit rate (heavy users exist)
ENGAGEMENT_SIGMA = 0.45                      # lognormal σ of pdp views per session (persistent per user)
CART_PROPENSITY_SIGMA = 0.6                  # lognormal σ of extra add-to-carts (persistent per user)
MEMBER_ACTIVITY = 1.5                        # members visit more often

# ---------------------------------------------------------------------------------------------
# Promotions


@dataclass(frozen=True)
class Promo:
    """A planted promotion: dates, kind, categories and effects."""

    key: str                          # id suffix; promotion_id = f"{year}_{key}"
    name: str
    kind: str
    start: tuple[int, int]            # (month, day)
    end: tuple[int, int]
    promoted: tuple[str, ...]
    cannibalised: tuple[str, ...] = ()
    lift: float = 1.0                 # order-count multiplier of promoted categories during the event
    value_uplift: float = 1.0         # order value multiplier of promoted categories' baseline orders (AOV uplift)
    cannibal: float = 1.0             # order-count multiplier of cannibalised categories during the event
    pull_forward: float = 0.0         # post-event dip: multiplier 1 − pull_forward · exp(−day/decay_days)
    decay_days: float = 5.0
    post_days: int = 14
    presale_from: tuple[int, int] | None = None
    presale_share: float = 0.0        # presale orders / all promoted baseline-demand orders of the event
    waiting_dip: float = 1.0          # multiplier of promoted categories' regular orders during presale
    discount_rate: float = 0.0        # discount = rate × list value (list = gmv + discount)
    threshold: float | None = None    # coupon: list value ≥ threshold gets a fixed discount
    coupon: float | None = None
    members_only: bool = False        # member day: the lift comes from members only


_ALL_PROMOTABLE = ("apparel", "beauty", "digital", "home", "snacks", "baby")
PROMOS = (
    Promo("cny_festival", "年货节 New-Year goods festival", "festival", (1, 8), (1, 22), ("snacks", "home"), ("apparel",),
          lift=1.9, value_uplift=1.15, cannibal=0.85, pull_forward=0.30, decay_days=5, discount_rate=0.10),
    Promo("member_mar", "会员日 Member day (March)", "member_day", (3, 18), (3, 18), _ALL_PROMOTABLE, (),
          lift=1.5, members_only=True, post_days=0, discount_rate=0.10),
    Promo("member_apr", "会员日 Member day (April)", "member_day", (4, 18), (4, 18), _ALL_PROMOTABLE, (),
          lift=1.5, members_only=True, post_days=0, discount_rate=0.10),
    Promo("618", "618 mid-year festival", "festival", (6, 1), (6, 18), ("digital", "apparel", "beauty"), ("home", "baby"),
          lift=2.3, value_uplift=1.30, cannibal=0.85, pull_forward=0.35, decay_days=5, presale_from=(5, 20),
          presale_share=0.50, waiting_dip=0.80, discount_rate=0.15),
    Promo("member_jul", "会员日 Member day (July)", "member_day", (7, 18), (7, 18), _ALL_PROMOTABLE, (),
          lift=1.5, members_only=True, post_days=0, discount_rate=0.10),
    Promo("member_aug", "会员日 Member day (August)", "member_day", (8, 8), (8, 8), _ALL_PROMOTABLE, (),
          lift=1.5, members_only=True, post_days=0, discount_rate=0.10),
    Promo("flash_snacks", "限时秒杀 Snacks flash sale", "flash_sale", (8, 28), (8, 28), ("snacks",), ("baby",),
          lift=2.5, value_uplift=1.0, cannibal=0.90, pull_forward=0.25, decay_days=3, discount_rate=0.30),
    Promo("920_brand_day", "920 品牌日 Brand day", "brand_day", (9, 20), (9, 20), ("beauty",), ("apparel",),
          lift=3.0, value_uplift=1.20, cannibal=0.85, pull_forward=0.30, decay_days=4, discount_rate=0.20),
    Promo("member_oct", "会员日 Member day (October)", "member_day", (10, 8), (10, 8), _ALL_PROMOTABLE, (),
          lift=1.5, members_only=True, post_days=0, discount_rate=0.10),
    Promo("double11", "双11 Double 11", "festival", (11, 1), (11, 11), ("apparel", "beauty", "digital", "home", "baby"),
          ("snacks",), lift=2.8, value_uplift=1.35, cannibal=0.80, pull_forward=0.40, decay_days=6,
          presale_from=(10, 20), presale_share=0.50, waiting_dip=0.75, discount_rate=0.15),
    Promo("double12_coupon", "双12 满1000减200 coupon", "coupon", (12, 10), (12, 12), ("digital", "home"), ("apparel",),
          lift=1.8, value_uplift=1.25, cannibal=0.90, pull_forward=0.25, decay_days=4, threshold=1000.0, coupon=200.0),
    Promo("member_dec", "会员日 Member day (December)", "member_day", (12, 28), (12, 28), _ALL_PROMOTABLE, (),
          lift=1.5, members_only=True, post_days=0, discount_rate=0.10),
)

# ---------------------------------------------------------------------------------------------
# Detail-page experiments


@dataclass(frozen=True)
class Experiment:
    """A planted experiment: window, arms and effects."""

    experiment_id: str
    quarter: str
    start: dt.date
    end: dt.date
    arms: tuple[str, ...]                         # arms[0] is the control
    ctr_lift: dict = field(default_factory=dict)  # relative lift of add_to_carts per pdp view
    pay_factor: dict = field(default_factory=dict)  # checkout→pay multiplier (guardrail breach)
    lost_share: dict = field(default_factory=dict)  # share of an arm's exposures lost from the log (SRM)


EXPERIMENTS = (
    Experiment("pdp_first_screen_offer", "2025Q2", dt.date(2025, 4, 7), dt.date(2025, 5, 4),
               ("control", "offer_top", "offer_banner"), ctr_lift={"offer_top": 0.10}, lost_share={"offer_banner": 0.05}),
    Experiment("pdp_hero_video", "2025Q3", dt.date(2025, 8, 4), dt.date(2025, 8, 31),
               ("control", "video"), ctr_lift={"video": 0.08}),
    Experiment("pdp_selling_points", "2025Q4", dt.date(2025, 10, 6), dt.date(2025, 11, 2),
               ("control",) + tuple(f"v{i:02d}" for i in range(1, 31)),
               ctr_lift={"v07": 0.30, "v19": 0.40, "v12": 0.06}, pay_factor={"v12": 0.85}),
)
