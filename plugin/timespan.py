"""Spans of time in seconds, for a clock that counts unix seconds (pure: no clock here)."""

from __future__ import annotations

HOUR = 3_600
DAY = 86_400
