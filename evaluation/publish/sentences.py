"""Numbers in sentences: small counts of people are never written out.

Headline numbers are formatted through :func:`protect_sentence`, and :func:`check_sentences`
refuses sentences such as "3 participants" (docs/methods.md, section 'Disclosure control').
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from evaluation.contract.results import SUPPRESSION_THRESHOLD
from evaluation.publish.cells import SECONDARY_MARKER, DisclosureError, _check_threshold, _marker
from evaluation.publish.formatting import DEFAULT_LANGUAGE, check_language

# ----------------------------------------------------------------------------
# Sentences
# ----------------------------------------------------------------------------

_FEWER = {"en": "fewer than {t}", "nl": "minder dan {t}"}

_PEOPLE_WORDS = (
    r"people|persons?|participants?|volunteers?|mentors?|clients?|offenders?|men|women|individuals?|matches|"
    r"deelnemers?|vrijwilligers?|personen|mensen|cliënten|clienten|mannen|vrouwen|koppels?|daders?"
)
_SMALL_COUNT_RE = re.compile(
    # "1 in 5 participants" / "1 op de 5 deelnemers" are ratios, not counts
    r"(?<![\d.,])(?<!\bin )(?<!\bop de )(?<!\bout of )(\d+)\s+(?:(?:[^\W\d]+\s+){0,2})(" + _PEOPLE_WORDS + r")\b",
    re.IGNORECASE,
)


def protect_count(value: Any, threshold: int = SUPPRESSION_THRESHOLD, language: str = DEFAULT_LANGUAGE) -> str:
    """Format a count of people for a sentence: "12", or "fewer than 10" / "minder dan 10".

    Zero is shown as "0"; ``"<10"`` (already protected) becomes the words.
    """
    threshold = _check_threshold(threshold)
    check_language(language)
    if isinstance(value, str) and value.strip() in {_marker(threshold), SECONDARY_MARKER}:
        return _FEWER[language].format(t=threshold)
    try:
        x = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"protect_count: {value!r} is not a count") from exc
    if np.isnan(x) or x < 0:
        raise ValueError(f"protect_count: {value!r} is not a count")
    if 0 < x < threshold:
        return _FEWER[language].format(t=threshold)
    return str(int(round(x)))


def protect_sentence(
    template: str,
    counts: Mapping[str, Any],
    threshold: int = SUPPRESSION_THRESHOLD,
    language: str = DEFAULT_LANGUAGE,
    **values: Any,
) -> str:
    """Fill a sentence template, protecting every count of people.

    ``template.format(**counts_protected, **values)`` where each entry of
    ``counts`` passes through :func:`protect_count`; ``values`` (estimates,
    percentages, dates) are inserted as given and must themselves come from a
    protected table (:func:`evaluation.publish.suppression.protect_results`).

    Examples
    --------
    >>> protect_sentence("{n} participants, of whom {k} reoffended.", {"n": 40, "k": 4}, language="en")
    '40 participants, of whom fewer than 10 reoffended.'
    """
    shown = {k: protect_count(v, threshold, language) for k, v in counts.items()}
    overlap = set(shown) & set(values)
    if overlap:
        raise ValueError(f"protect_sentence: {sorted(overlap)} given both as counts and as values")
    return template.format(**shown, **values)


def check_sentences(sentences: str | Iterable[str], threshold: int = SUPPRESSION_THRESHOLD) -> None:
    """Refuse sentences that state a small number of people ("3 participants", "4 deelnemers").

    A heuristic last line of defence for headline text: a number ``1..threshold-1``
    followed (within two words) by a word for people. Raises
    :class:`DisclosureError` listing the offending sentences.
    """
    threshold = _check_threshold(threshold)
    items = [sentences] if isinstance(sentences, str) else list(sentences)
    rows = []
    for i, s in enumerate(items):
        for m in _SMALL_COUNT_RE.finditer(str(s)):
            k = int(m.group(1))
            if 0 < k < threshold:
                rows.append({"sentence": i, "text": m.group(0), "count": k})
    if rows:
        findings = pd.DataFrame(rows)
        raise DisclosureError(
            f"{len(rows)} statement(s) give a count of fewer than {threshold} people: "
            + "; ".join(f"sentence {r['sentence'] + 1}: {r['text']!r}" for r in rows)
            + " (use protect_sentence)",
            findings,
        )
