"""Funnel drop-off (placeholder docstring, the specification follows)."""
from kit.funnel.core import FunnelResult, TimeToConvert, funnel, time_to_convert

__all__ = ["FunnelResult", "TimeToConvert", "funnel", "time_to_convert"]
