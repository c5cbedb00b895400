"""Justice Data Lab style headline sentences, in Dutch and English.

The only place where recidivism numbers become sentences. Numbers come from
the results table of :class:`evaluation.analyses.recidivism.RecidivismAnalysis`
(``estimand = prevalence_<h>d_crude`` or ``_km``), are expressed per 100
typical participants and rounded to whole people.

Wording rules (Ministry of Justice, Justice Data Lab methodology)
-----------------------------------------------------------------
* "Of 100 typical participants, X reoffended within one year, N fewer/more
  than in the comparison group (95% CI a to b)."
* A difference whose interval includes zero is *not statistically
  significant*: the headline says the data are compatible with no
  difference, what the interval rules out, and the minimum detectable
  difference at the actual group sizes (two-sided alpha 0.05, power 80%;
  :func:`evaluation.stats.proportions.minimum_detectable_difference`), never
  that the programme "does not work" and never post-hoc power for the
  observed difference.
* Fewer than 60 participants: a caution sentence comes first and the status
  is ``warning``.
* Descriptive design: the programme's rate next to the reference rate, with
  the statement that this is not a causal comparison.
"""

from __future__ import annotations

import math

import numpy as np

from evaluation.analyses.recidivism import (  # noqa: F401  (headline_numbers re-exported)
    MIN_PARTICIPANTS,
    headline_numbers,
)
from evaluation.publish.disclosure import protect_count
from evaluation.publish.formatting import DEFAULT_LANGUAGE, check_language, number
from evaluation.stats.proportions import minimum_detectable_difference, power_at_difference

_HORIZON_WORDS = {
    "en": {365: "within one year", 730: "within two years"},
    "nl": {365: "binnen een jaar", 730: "binnen twee jaar"},
}


def _horizon(h: int, language: str) -> str:
    words = _HORIZON_WORDS[language]
    if h in words:
        return words[h]
    return f"within {h} days" if language == "en" else f"binnen {h} dagen"


def _int(x: float) -> int:
    """Round half away from zero (people, not banker's rounding)."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def _num(n: float, language: str) -> str:
    return number(int(n), language)


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _people(n: float, language: str) -> str:
    """A count of people for a sentence; below 10 it becomes "fewer than 10" (disclosure)."""
    c = protect_count(int(n), language=language)
    return _num(int(n), language) if c.isdigit() else c


def _ci_phrase(lo_fewer: int, hi_fewer: int, language: str) -> str:
    """Interval of 'fewer' counts; opposite signs are written out as fewer/more, in the order of the
    difference (most fewer first), as the quarter site writes it ("11 fewer to 9 more")."""
    a, b = sorted((lo_fewer, hi_fewer))
    lab = "95% CI" if language == "en" else "95%-BI"
    to = "to" if language == "en" else "tot"
    if a >= 0 or b <= 0:
        a, b = sorted((abs(a), abs(b)))
        return f"({lab} {a} {to} {b})"
    more, fewer = ("more", "fewer") if language == "en" else ("meer", "minder")
    return f"({lab} {b} {fewer} {to} {abs(a)} {more})"


def _not_significant(numbers: dict, lo_fewer: int, hi_fewer: int, language: str) -> str:
    """What a non-significant interval rules out, and the smallest difference this analysis could
    detect (never post-hoc power: it only restates the p-value; Hoenig & Heisey 2001)."""
    en = language == "en"
    a, b = sorted((lo_fewer, hi_fewer))  # fewer reoffenders per 100: a (most more) .. b (most fewer)
    if en:
        ruled = (f"The interval rules out a reduction of more than {b} and an increase of more than {-a} "
                 "reoffenders per 100." if a < 0 < b else
                 f"The interval rules out a difference outside {abs(a)} to {abs(b)} per 100.")
        text = f"This difference is not statistically significant: the data are also compatible with no difference. {ruled}"
    else:
        ruled = (f"Het interval sluit een daling van meer dan {b} en een stijging van meer dan {-a} per 100 "
                 "deelnemers uit." if a < 0 < b else
                 f"Het interval sluit een verschil buiten {abs(a)} tot {abs(b)} per 100 uit.")
        text = f"Dit verschil is niet statistisch significant: de gegevens passen ook bij geen verschil. {ruled}"
    n1, n0 = numbers.get("n_programme"), numbers.get("n_comparison")
    mdd = minimum_detectable_difference(numbers["p_comparison"], n1 or 0, n0 or 0) if n1 and n0 else float("nan")
    if np.isfinite(mdd):
        m = max(1, _int(100 * mdd))
        text += (f" With these numbers of participants and comparison persons, a difference of about {m} per 100 "
                 "or more would have been detected (80% power, two-sided alpha 0.05); a smaller effect can neither "
                 "be shown nor ruled out." if en else
                 f" Met deze aantallen deelnemers en vergelijkingspersonen was een verschil van ongeveer {m} per 100 "
                 "of meer gevonden (80% onderscheidend vermogen, tweezijdig alfa 0,05); een kleiner effect is niet "
                 "aan te tonen en niet uit te sluiten.")
    return text


_ENDPOINT_WORDS = {
    "en": {"GENERAL": "any new offence", "SERIOUS": "a serious new offence",
           "VERY_SERIOUS": "a very serious new offence", "SPECIAL": "a new offence of the same kind",
           "CUSTODIAL": "a new offence leading to custody"},
    "nl": {"GENERAL": "een nieuw delict", "SERIOUS": "een ernstig nieuw delict",
           "VERY_SERIOUS": "een zeer ernstig nieuw delict", "SPECIAL": "een nieuw soortgelijk delict",
           "CUSTODIAL": "een nieuw delict met vrijheidsbeneming"},
}


def _primary_sentences(numbers: dict, lo_fewer: int, hi_fewer: int, language: str) -> list[str]:
    """Which measure this is (the primary outcome, declared or the WODC default) and, with a declared
    smallest relevant difference, whether the interval rules it out and the power to detect it
    (docs/methods.md, section 'Primary outcome')."""
    prim = numbers.get("primary")
    if not prim:
        return []
    en = language == "en"
    h = _horizon(int(prim["horizon_days"]), language)
    how = ("among people with the full follow-up" if prim["estimator"] == "crude" else "Kaplan-Meier estimate") if en \
        else ("onder mensen met de volledige follow-up" if prim["estimator"] == "crude" else "Kaplan-Meierschatting")
    what = _ENDPOINT_WORDS[language][prim["endpoint"]]
    if en:
        src = "declared in programmes.yaml" if prim.get("declared") else "the default, following the WODC Recidivemonitor"
        out = [f"This is the programme's primary outcome ({src}): the share with {what} {h} ({how}). The other "
               "measures in the report are secondary: they describe the result but do not decide it."]
    else:
        src = "vastgelegd in programmes.yaml" if prim.get("declared") else "de standaard, volgens de WODC-Recidivemonitor"
        out = [f"Dit is de primaire uitkomstmaat van het programma ({src}): het aandeel met {what} {h} ({how}). De "
               "andere maten in het rapport zijn secundair: ze beschrijven het resultaat maar beslissen het niet."]
    rd = prim.get("relevant_difference")
    n1, n0 = numbers.get("n_programme"), numbers.get("n_comparison")
    if rd and n1 and n0 and np.isfinite(numbers.get("p_comparison", np.nan)):
        r = max(1, _int(100 * rd))
        a, b = sorted((lo_fewer, hi_fewer))
        excluded = b < r  # the interval's largest reduction is below the relevant one
        pw = power_at_difference(rd, numbers["p_comparison"], n1, n0)
        pct = "" if not np.isfinite(pw) else number(100 * pw, language, 0)
        if en:
            s = (f"The smallest reduction that matters was set at {r} per 100: the interval "
                 + ("rules out a reduction that large" if excluded else "does not rule it out")
                 + (f"; with these group sizes such a reduction would be detected with a probability of {pct}%"
                    if pct else "") + ".")
        else:
            s = (f"De kleinste daling die ertoe doet is vastgesteld op {r} per 100: het interval "
                 + ("sluit zo'n grote daling uit" if excluded else "sluit die niet uit")
                 + (f"; met deze groepsgroottes wordt zo'n daling met een kans van {pct}% gevonden" if pct else "")
                 + ".")
        out.append(s)
    return out


def jdl_headline(numbers: dict, language: str = DEFAULT_LANGUAGE, n_events_programme: int | None = None) -> dict:
    """Headline sentences from :func:`headline_numbers` output.

    Returns ``{"status": "ok"|"warning"|"not_estimable", "title": str,
    "sentences": [str, ...]}`` as the notebook contract's ``headline.json``.
    """
    check_language(language)
    en = language == "en"
    h = _horizon(int(numbers.get("horizon", 365)), language)
    sentences: list[str] = []
    status = "ok"
    n = numbers.get("n_programme", 0)
    title = "Reoffending" if en else "Recidive"
    if not np.isfinite(numbers.get("p_programme", np.nan)):
        return {"status": "not_estimable", "title": title,
                "sentences": ["Reoffending could not be estimated." if en else "Recidive kon niet worden geschat."]}
    if n < MIN_PARTICIPANTS:
        status = "warning"
        sentences.append(
            f"Caution: {'only ' if n >= 10 else ''}{_people(n, language)} participants could be analysed; at least {MIN_PARTICIPANTS} are "
            "needed for a reliable estimate, so the figures below are indicative only."
            if en else
            f"Let op: er konden {'maar ' if n >= 10 else ''}{_people(n, language)} deelnemers worden geanalyseerd; voor een betrouwbare "
            f"schatting zijn er minstens {MIN_PARTICIPANTS} nodig, dus de cijfers hieronder zijn alleen indicatief."
        )
    x = _int(100 * numbers["p_programme"])
    if "reference_rate" in numbers:
        lo, hi = (_int(100 * v) for v in numbers["ci_programme"])
        ref = _int(100 * numbers["reference_rate"])
        rlo, rhi = numbers.get("reference_ci", (np.nan, np.nan))
        if en:
            s1 = f"Of 100 typical participants, {x} reoffended {h} (95% CI {lo} to {hi})."
            s2 = f"The reference rate is {ref} per 100" + (
                f" (95% CI {_int(100 * rlo)} to {_int(100 * rhi)})" if np.isfinite(rlo) else "") + (
                f"; source: {numbers['reference_source']}." if numbers.get("reference_source") else ".")
            s3 = ("This is not a causal comparison: the reference group may differ from the participants in ways "
                  "that affect reoffending, so the difference cannot be attributed to the programme.")
        else:
            s1 = f"Van 100 typische deelnemers pleegden er {x} {h} een nieuw delict (95%-BI {lo} tot {hi})."
            s2 = f"Het referentiecijfer is {ref} per 100" + (
                f" (95%-BI {_int(100 * rlo)} tot {_int(100 * rhi)})" if np.isfinite(rlo) else "") + (
                f"; bron: {numbers['reference_source']}." if numbers.get("reference_source") else ".")
            s3 = ("Dit is geen causale vergelijking: de referentiegroep kan op punten die recidive beïnvloeden "
                  "verschillen van de deelnemers, dus het verschil kan niet aan het programma worden toegeschreven.")
        return {"status": status, "title": title, "sentences": sentences + [s1, s2, s3]}
    if numbers.get("design") == "descriptive":
        lo, hi = (_int(100 * v) for v in numbers["ci_programme"])
        s1 = (f"Of 100 typical participants, {x} reoffended {h} (95% CI {lo} to {hi})." if en else
              f"Van 100 typische deelnemers pleegden er {x} {h} een nieuw delict (95%-BI {lo} tot {hi}).")
        s2 = ("There is no comparison group and no reference rate was supplied, so this figure cannot be compared "
              "and says nothing about the programme's effect." if en else
              "Er is geen vergelijkingsgroep en er is geen referentiecijfer opgegeven, dus dit cijfer kan niet "
              "worden vergeleken en zegt niets over het effect van het programma.")
        return {"status": "warning", "title": title, "sentences": sentences + [s1, s2]}
    if "difference" not in numbers:
        return {"status": "not_estimable", "title": title, "sentences": sentences + [
            "No comparison group estimate is available." if en else "Er is geen schatting voor de vergelijkingsgroep."]}
    d = numbers["difference"]
    fewer = _int(-100 * d)  # positive = fewer reoffenders among participants
    lo_f, hi_f = _int(-100 * numbers["ci_upper"]), _int(-100 * numbers["ci_lower"])
    ci = _ci_phrase(lo_f, hi_f, language)
    if fewer == 0:
        comp = ("the same as in the comparison group" if en else "evenveel als in de vergelijkingsgroep")
        s1 = (f"Of 100 typical participants, {x} reoffended {h}, {comp} {ci}." if en else
              f"Van 100 typische deelnemers pleegden er {x} {h} een nieuw delict, {comp} {ci}.")
    elif en:
        s1 = (f"Of 100 typical participants, {x} reoffended {h}, {abs(fewer)} "
              f"{'fewer' if fewer > 0 else 'more'} than in the comparison group {ci}.")
    else:
        s1 = (f"Van 100 typische deelnemers pleegden er {x} {h} een nieuw delict, {abs(fewer)} "
              f"{'minder' if fewer > 0 else 'meer'} dan in de vergelijkingsgroep {ci}.")
    sentences.append(s1)
    significant = numbers["ci_lower"] > 0 or numbers["ci_upper"] < 0
    if significant:
        sentences.append(
            "This difference is statistically significant (p = {:.3f}).".format(numbers["p_value"]) if en else
            "Dit verschil is statistisch significant (p = {}).".format(f"{numbers['p_value']:.3f}".replace(".", ","))
        )
    else:
        more = _not_significant(numbers, lo_f, hi_f, language)
        sentences.append(more)
    sentences += _primary_sentences(numbers, lo_f, hi_f, language)
    if numbers.get("design") != "rct":
        if numbers.get("causal", False):
            sentences.append(
                "The comparison group was matched or weighted on intake characteristics; reading the difference as "
                "the programme's effect assumes that no unmeasured difference between the groups affects "
                "reoffending." if en else
                "De vergelijkingsgroep is gematcht of gewogen op kenmerken bij instroom; het verschil is alleen het "
                "effect van het programma als geen ongemeten verschil tussen de groepen de recidive beïnvloedt."
            )
        else:
            sentences.append(
                "After adjustment the groups still differ on measured characteristics (or overlap poorly), so this "
                "difference is not a causal estimate of the programme's effect." if en else
                "Na correctie verschillen de groepen nog op gemeten kenmerken (of overlappen ze slecht), dus dit "
                "verschil is geen causale schatting van het effect van het programma."
            )
    if n_events_programme is not None and n_events_programme < 30:
        sentences.append(
            _cap(f"{'only ' if n_events_programme >= 10 else ''}{_people(n_events_programme, language)} participants "
                 "reoffended, too few (under 30) to report time to reoffending as a headline.") if en else
            _cap(f"{'maar ' if n_events_programme >= 10 else ''}{_people(n_events_programme, language)} deelnemers "
                 "recidiveerden, te weinig (minder dan 30) om de tijd tot recidive als hoofdresultaat te melden.")
        )
    return {"status": status, "title": title, "sentences": sentences}
