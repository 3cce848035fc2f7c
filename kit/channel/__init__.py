"""Channel ROI: ROAS and CAC against targets, multi-touch attribution, response curves, reallocation."""
from kit.channel.attribution import MODELS, AttributionResult, attribution

__all__ = ["MODELS", "AttributionResult", "attribution"]
