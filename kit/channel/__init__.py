"""Channel ROI: ROAS and CAC against targets, multi-touch attribution, response curves, reallocation.

    import kit
    src = kit.connect()
    kit.channel.summary(src, "2025Q4")                       # spend, GMV, ROAS vs target, CAC, QoQ/YoY
    journeys = kit.channel.paths(src, "2025Q4", lookback="30D")
    kit.channel.attribution(journeys, ["last", "markov", "shapley"])
    w = kit.channel.weekly(src, "2024-01-01", "2025-12-31")
    model = kit.channel.response_model(w, "gmv", w.attrs["spend_columns"], period="2025Q4")
    model.roas(); model.params(); model.response_curve("douyin")
    kit.channel.reallocate(model, bounds=0.3)
    review = kit.channel.review_quarter(src, kit.params.load("2025Q4"))   # all of it, and review.finding()
"""
from kit.channel import plots
from kit.channel.attribution import MODELS, AttributionResult, attribution
from kit.channel.findings import findings
from kit.channel.journeys import paths
from kit.channel.reallocate import Reallocation, reallocate
from kit.channel.response import SATURATIONS, ResponseModel, response_model
from kit.channel.review import ChannelReview, review_quarter
from kit.channel.summary import ChannelSummary, summary
from kit.channel.weekly import weekly

__all__ = ["MODELS", "SATURATIONS", "AttributionResult", "ChannelReview", "ChannelSummary", "Reallocation", "ResponseModel", "attribution", "findings",
           "paths", "plots", "reallocate", "response_model", "review_quarter", "summary", "weekly"]
