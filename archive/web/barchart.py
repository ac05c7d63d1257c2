"""Geometry of the removals-per-month bar chart, drawn as inline SVG by the template (no scripts)."""
from __future__ import annotations

import math
from typing import Any

WIDTH, HEIGHT = 640, 180
TOP, BOTTOM = 18, 22  # room for the count above a bar and the month below it
MAX_LABELS = 8  # more month labels than this overlap at phone widths


def month_bars(months: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"width", "height", "baseline", "bars"}`` for ``[{"month", "count", "selected"}]``, oldest first.

    Bars share the width evenly and scale to the busiest month; a month with no events keeps
    its slot (an empty month is information too). Every k-th month is labelled so labels never collide.
    """
    count = len(months)
    if not count:
        return {"width": WIDTH, "height": HEIGHT, "baseline": HEIGHT - BOTTOM, "bars": []}
    slot = WIDTH / count
    busiest = max(m["count"] for m in months) or 1
    baseline = HEIGHT - BOTTOM
    every = math.ceil(count / MAX_LABELS)
    bars = []
    for i, m in enumerate(months):
        h = round((baseline - TOP) * m["count"] / busiest, 1)
        bars.append({
            "month": m["month"], "count": m["count"], "selected": bool(m.get("selected")),
            "x": round(i * slot + slot * 0.1, 1), "width": round(slot * 0.8, 1),
            "y": round(baseline - h, 1), "height": h, "center": round(i * slot + slot / 2, 1),
            "label": m["month"] if i % every == 0 else "",
        })
    return {"width": WIDTH, "height": HEIGHT, "baseline": baseline, "bars": bars}
