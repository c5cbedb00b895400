"""Which recidivism design a programme's data support.

The quarterly run, the costs and the synthesis all need the design of a
programme's recidivism comparison; it follows from the accepted participants
table alone (docs/methods.md, section 'Recidivism measures').
"""

from __future__ import annotations

import pandas as pd

DESIGNS = ("rct", "matched", "descriptive")


def derive_design(participants: pd.DataFrame | None, programme_id: str) -> str:
    """Recidivism design of one programme from the accepted participants table.

    ``rct`` when the programme has comparison persons and every person of the
    programme (both groups) has ``assignment == "randomised"``; ``matched``
    when it has comparison persons otherwise (observational pool: matching or
    weighting); ``descriptive`` when it has no comparison persons.
    """
    if participants is None or participants.empty or "group" not in participants.columns:
        return "descriptive"
    rows = participants[participants["programme_id"] == programme_id]
    comparison = rows["group"] == "comparison"
    if not comparison.any():
        return "descriptive"
    if "assignment" in rows.columns and (rows["assignment"] == "randomised").all():
        return "rct"
    return "matched"
