"""Readable labels for machine names in results (report step only).

Results keep fixed machine names (``estimand``, ``endpoint``, ``group``);
the report turns them into words a policy reader understands, in Dutch or
English. Unknown names fall back to the machine name, so a new estimand
never breaks a report; it only looks technical until labelled here.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from evaluation.contract.schema import load_contract
from evaluation.publish.formatting import NOT_ESTIMABLE_TEXT, check_language, number, ratio_shown
from evaluation.validation.supports import MEASURES as SUPPORT_MEASURES
from evaluation.validation.supports import REASONS as SUPPORT_REASONS

if TYPE_CHECKING:  # pandas' Styler needs jinja2; imported when a table is shown
    from pandas.io.formats.style import Styler

# exact estimand names: (English, Dutch)
ESTIMANDS: dict[str, tuple[str, str]] = {
    "hazard_ratio": ("hazard ratio", "hazardratio"),
    "hazard_ratio_adjusted": ("hazard ratio, adjusted for intake characteristics", "hazard ratio, gecorrigeerd voor kenmerken bij instroom"),
    "hazard_ratio_landmark": ("hazard ratio, landmark analysis", "hazard ratio, landmarkanalyse"),
    "hazard_ratio_at_risk_clock": ("hazard ratio on the at-risk clock (sensitivity analysis: days in detention not counted)", "hazard ratio op de at-riskklok (gevoeligheidsanalyse: dagen in detentie niet meegeteld)"),
    "rate_ratio": ("ratio of new cases per year at risk", "verhouding nieuwe zaken per jaar at risk"),
    "cases_per_person_year": ("new cases per person-year at risk", "nieuwe zaken per persoonsjaar at risk"),
    "e_value": ("E-value (strength of unmeasured confounding needed to explain the effect away)", "E-waarde (sterkte van ongemeten confounding die het effect zou verklaren)"),
    "e_value_ci": ("E-value of the confidence limit closest to 1 (confounding needed to make the interval include 1)", "E-waarde van de betrouwbaarheidsgrens het dichtst bij 1 (confounding die het interval 1 zou laten bevatten)"),
    "ph_test": ("test of proportional hazards: chi-square statistic (its p-value in the p column)", "toets op proportionele hazards: chi-kwadraatstatistiek (de p-waarde staat in de kolom p)"),
    "gray_test": ("Gray's test, cumulative incidence: chi-square statistic (its p-value in the p column)", "toets van Gray, cumulatieve incidentie: chi-kwadraatstatistiek (de p-waarde staat in de kolom p)"),
    "interaction_test": ("subgroup interaction test: Wald chi-square statistic (its p-value in the p column)", "interactietoets subgroep: Wald-chi-kwadraatstatistiek (de p-waarde staat in de kolom p)"),
    "median_months": ("median time in months", "mediane duur in maanden"),
    "share_completed": ("share who completed the programme", "aandeel dat het programma afrondde"),
    "share_dropped_out": ("share who dropped out", "aandeel voortijdig gestopt"),
    "rows_accepted_share": ("share of delivered rows accepted", "aandeel aangeleverde rijen goedgekeurd"),
    "volunteer_stopping_rate": ("volunteers stopping per year", "vrijwilligers die stoppen per jaar"),
    "volunteer_contact_hours": ("volunteer hours in contacts", "vrijwilligersuren in contacten"),
    "volunteer_support_hours": ("hours of training and supervision", "uren training en supervisie"),
    "volunteer_time_value_eur": ("value of volunteer time (EUR)", "waarde van vrijwilligerstijd (EUR)"),
    "cost_eur": ("cost (EUR)", "kosten (EUR)"),
    "cost_total_eur": ("total cost (EUR)", "totale kosten (EUR)"),
    "cost_per_active_participant_eur": ("cost per active participant (EUR)", "kosten per actieve deelnemer (EUR)"),
    "cost_per_completed_trajectory_eur": ("cost per completed trajectory (EUR)", "kosten per afgerond traject (EUR)"),
    "cost_per_reoffender_avoided_eur": ("cost per reoffender avoided (EUR)", "kosten per voorkomen recidivist (EUR)"),
    "probability_effect_beneficial": ("probability that reoffending is reduced", "kans dat recidive afneemt"),
    "break_even_risk_reduction": ("reduction needed to break even", "benodigde daling om quitte te spelen"),
    "probability_break_even": ("probability of breaking even", "kans om quitte te spelen"),
    "net_benefit_per_participant_eur": ("net benefit per participant (EUR)", "netto baat per deelnemer (EUR)"),
    "contacts_per_month": ("contacts per month", "contacten per maand"),
    "planned_contacts_delivered": ("share of planned contacts delivered", "aandeel geplande contacten geleverd"),
    "share_matches_dosage_met": ("share of matches meeting the planned dosage", "aandeel koppelingen met de geplande dosering"),
    "basic_training_in_time": ("volunteers trained in time", "vrijwilligers op tijd getraind"),
    "supervision_in_time": ("volunteers supervised in time", "vrijwilligers op tijd begeleid"),
    "same_sex_matching": ("matches of the same sex", "koppelingen van hetzelfde geslacht"),
    "risk_level_in_target": ("participants within the target risk levels", "deelnemers binnen de doelgroep (risico)"),
    "sexual_offenders_excluded": ("sexual offenders excluded as declared", "zedendelinquenten uitgesloten zoals afgesproken"),
    "risk_signals_reported": ("risk signals reported to a supervisor", "risicosignalen gemeld aan begeleider"),
    "rj_agreement_reached": ("agreement reached", "herstelafspraken gemaakt"),
    "rj_agreement_fulfilled": ("agreement fulfilled", "herstelafspraken nagekomen"),
    "rj_victim_participation": ("victim took part", "slachtoffer nam deel"),
    "matched_within_6_weeks": ("participants matched within 6 weeks", "deelnemers binnen 6 weken gekoppeld"),
    "circle_size_at_least_3": ("circles with at least 3 volunteers", "cirkels met minstens 3 vrijwilligers"),
    "tidier_complete": ("programme description complete (TIDieR items)", "programmabeschrijving volledig (TIDieR-items)"),
    "no_early_end_by_planned_end": ("matches without early ending by the planned end", "koppelingen zonder voortijdig einde tot de geplande einddatum"),
}

# the two horizons every report uses, in years first (a reader thinks in years, the methods in days)
ESTIMANDS.update({
    f"prevalence_{d}d_{kind}": (f"reoffended within {en} ({d} days; {how_en})", f"recidive binnen {nl} ({d} dagen; {how_nl})")
    for d, en, nl in ((365, "one year", "een jaar"), (730, "two years", "twee jaar"))
    for kind, how_en, how_nl in (("crude", "people with full follow-up", "personen met volledige follow-up"),
                                 ("km", "Kaplan-Meier", "Kaplan-Meier"))
})

# re-integration outcomes (docs/methods.md, section 'Re-integration outcomes')
ESTIMANDS.update({
    "share_sufficient_intake": ("sufficiently self-sufficient at intake (share)", "voldoende zelfredzaam bij instroom (aandeel)"),
    "share_sufficient_end": ("sufficiently self-sufficient at the end (share)", "voldoende zelfredzaam aan het eind (aandeel)"),
    "share_improved_end": ("improved by at least one level from intake to the end (share)", "minstens één niveau vooruit van instroom tot het eind (aandeel)"),
    "mean_change_end": ("mean change in score from intake to the end (levels)", "gemiddelde verandering in score van instroom tot het eind (niveaus)"),
    "mean_change_follow_up": ("mean change in score from intake to the follow-up (levels)", "gemiddelde verandering in score van instroom tot de nameting (niveaus)"),
    "share_missing_end": ("share without an end assessment, of those due", "aandeel zonder eindmeting, van wie die had moeten hebben"),
    "share_missing_follow_up": ("share without a follow-up assessment, of those due", "aandeel zonder nameting, van wie die had moeten hebben"),
    "ancova_difference_end": ("difference in end score at equal intake score (levels)", "verschil in eindscore bij gelijke instroomscore (niveaus)"),
    "ancova_difference_follow_up": ("difference in follow-up score at equal intake score (levels)", "verschil in score bij de nameting bij gelijke instroomscore (niveaus)"),
    "change_per_contact_hour": ("change in score per hour of contact (association, not an effect)", "verandering in score per uur contact (samenhang, geen effect)"),
    "change_per_match_month": ("change in score per month of the match (association, not an effect)", "verandering in score per maand koppeling (samenhang, geen effect)"),
    "share_goals_achieved": ("share of reviewed personal goals achieved", "aandeel geëvalueerde persoonlijke doelen behaald"),
    "share_goals_achieved_or_partly": ("share of reviewed personal goals achieved fully or partly", "aandeel geëvalueerde persoonlijke doelen geheel of gedeeltelijk behaald"),
    "share_positive_intake": ("share in a favourable situation at intake", "aandeel in een gunstige situatie bij instroom"),
    "share_positive_follow_up": ("share in a favourable situation at follow-up", "aandeel in een gunstige situatie bij de nameting"),
    "peer_mentor_new_case_1y": ("volunteers with lived experience: new justice case within one year of starting (Kaplan-Meier)", "ervaringsdeskundige vrijwilligers: nieuwe justitiezaak binnen een jaar na de start (Kaplan-Meier)"),
    "peer_mentor_work_start": ("volunteers with lived experience in work or education at the start", "ervaringsdeskundige vrijwilligers met werk of opleiding bij de start"),
    "peer_mentor_work_latest": ("volunteers with lived experience in work or education at the latest record", "ervaringsdeskundige vrijwilligers met werk of opleiding bij de laatste registratie"),
    "peer_mentor_reference_rate": ("published reference rate: new case within one year (not a comparison group)", "gepubliceerd referentiecijfer: nieuwe zaak binnen een jaar (geen vergelijkingsgroep)"),
})

# families: regex -> (English, Dutch) templates with the captured number as {n}
FAMILIES: list[tuple[str, tuple[str, str]]] = [
    (r"prevalence_(\d+)d_crude", ("reoffended within {n} days (people with full follow-up)", "recidive binnen {n} dagen (personen met volledige follow-up)")),
    (r"prevalence_(\d+)d_km", ("reoffended within {n} days (Kaplan-Meier)", "recidive binnen {n} dagen (Kaplan-Meier)")),
    (r"cumulative_incidence_(\d+)d", ("reoffended within {n} days, death and emigration as competing events", "recidive binnen {n} dagen, overlijden en emigratie als concurrerende gebeurtenis")),
    (r"rmst_(\d+)d", ("mean days free of reoffending in the first {n} days", "gemiddeld aantal dagen zonder recidive in de eerste {n} dagen")),
    (r"retention_(\d+)m", ("still active after {n} months", "na {n} maanden nog actief")),
    (r"cuminc_(\d+)m", ("ended within {n} months (cumulative incidence)", "binnen {n} maanden beëindigd (cumulatieve incidentie)")),
    (r"matched_within_(\d+)_weeks", ("participants matched within {n} weeks", "deelnemers binnen {n} weken gekoppeld")),
    (r"circle_size_at_least_(\d+)", ("circles with at least {n} volunteers", "cirkels met minstens {n} vrijwilligers")),
    (r"no_early_end_(\d+)m", ("no early ending within {n} months", "geen voortijdig einde binnen {n} maanden")),
]

SUFFIXES: list[tuple[str, tuple[str, str]]] = [
    ("_moderator_test", ("{base}: moderator test: test statistic QM (its p-value in the p column)", "{base}: toets op moderator: toetsgrootheid QM (de p-waarde staat in de kolom p)")),
    ("_moderator_ratio", ("{base}: ratio between moderator levels", "{base}: verhouding tussen moderatorgroepen")),
    ("_moderator_difference", ("{base}: difference between moderator levels", "{base}: verschil tussen moderatorgroepen")),
    ("_prediction_interval", ("{base}: prediction interval for a new programme", "{base}: voorspellingsinterval voor een nieuw programma")),
    ("_tau2", ("{base}: between-programme variance (tau²)", "{base}: variantie tussen programma's (tau²)")),
    ("_I2", ("{base}: heterogeneity (I²)", "{base}: heterogeniteit (I²)")),
    ("_pooled", ("{base}: average over programmes", "{base}: gemiddelde over programma's")),
]

# estimand prefixes: "change_<estimand>" from the results store (quarter on quarter)
PREFIXES: list[tuple[str, tuple[str, str]]] = [
    ("change_", ("change since the previous quarter in: {base}", "verandering t.o.v. het vorige kwartaal in: {base}")),
]

ENDPOINTS: dict[str, tuple[str, str]] = {
    "GENERAL": ("general reoffending", "algemene recidive"),
    "SERIOUS": ("serious reoffending", "ernstige recidive"),
    "VERY_SERIOUS": ("very serious reoffending", "zeer ernstige recidive"),
    "SPECIAL": ("special (same-type) reoffending", "speciale recidive"),
    "CUSTODIAL": ("reoffending leading to custody", "recidive met vrijheidsstraf"),
    "DROPOUT": ("programme dropout", "voortijdig stoppen met het programma"),
    "VOLUNTEER_STOP": ("volunteers stopping", "vrijwilligers die stoppen"),
    "MATCH_EARLY_END": ("match ending early", "voortijdig einde van de koppeling"),
    "MATCH_BREAKDOWN": ("match breaking down (ended by participant, volunteer or professional)",
                        "koppeling afgebroken (door deelnemer, vrijwilliger of beroepskracht)"),
    "CIRCLE_EARLY_END": ("circle ending early", "voortijdig einde van de cirkel"),
    "PARTICIPANT_END": ("end of the programme for the participant", "einde van het programma voor de deelnemer"),
}

GROUPS: dict[str, tuple[str, str]] = {
    "programme": ("participants", "deelnemers"),
    "comparison": ("comparison group", "vergelijkingsgroep"),
    "difference": ("difference (programme minus comparison)", "verschil (programma min vergelijking)"),
    "all": ("all", "alle"),
    "difference_vs_reference": ("difference (programme minus reference rate)", "verschil (programma min referentiecijfer)"),
    "reference": ("reference rate", "referentiecijfer"),
    "pooled": ("all programmes (pooled)", "alle programma's (samengenomen)"),
    "between_programmes": ("between programmes", "tussen programma's"),
    "new_programme": ("a new, similar programme", "een nieuw, vergelijkbaar programma"),
}


def _pick(pair: tuple[str, str], language: str) -> str:
    return pair[1] if language == "nl" else pair[0]


def estimand_label(estimand: str, language: str = "nl") -> str:
    """Words for an estimand; the machine name when it is not labelled."""
    name = str(estimand)
    if name in ESTIMANDS:
        return _pick(ESTIMANDS[name], language)
    for prefix, pair in PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            base = estimand_label(name[len(prefix):], language)
            return _pick(pair, language).format(base=base)
    for suffix, pair in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            base = estimand_label(name[: -len(suffix)], language)
            return _pick(pair, language).format(base=base)
    for pattern, pair in FAMILIES:
        m = re.fullmatch(pattern, name)
        if m:
            return _pick(pair, language).format(n=m.group(1))
    return name


REINTEGRATION_ENDPOINTS: dict[str, tuple[str, str]] = {
    "goals": ("personal goals", "persoonlijke doelen"),
    "circumstances": ("circumstances", "omstandigheden"),
    "peer_mentor": ("volunteers with lived experience", "ervaringsdeskundige vrijwilligers"),
    "employment": ("work or education", "werk of opleiding"),
    "housing": ("stable housing", "stabiele huisvesting"),
    "income": ("income from work", "inkomen uit werk"),
    "other": ("other", "overig"),
}
"""Re-integration endpoints (``goals:<domain>``, ``circumstances:<measure>``, ``peer_mentor``); a
circumstance's favourable situation is named (docs/methods.md, section 'Re-integration outcomes')."""


def instrument_words() -> tuple[dict[str, tuple[str, str]], dict[tuple[str, str], tuple[str, str]]]:
    """Instrument titles and domain labels of the contract's ``x_instruments`` (ZRM 2010 and 2017), in
    both languages: ``({instrument: (en, nl)}, {(instrument, domain): (en, nl)})``."""
    titles: dict[str, tuple[str, str]] = {}
    domains: dict[tuple[str, str], tuple[str, str]] = {}
    for ins in (load_contract().package.get("x_instruments") or {}).get("instruments", []) or []:
        name = str(ins.get("name", ""))
        short = name.replace("zrm_", "ZRM ")
        titles[name] = (short, short)
        for d in ins.get("domains", []) or []:
            domains[(name, str(d.get("value")))] = (str(d.get("label_en")), str(d.get("label_nl")))
    return titles, domains


def endpoint_label(endpoint: str, language: str = "nl") -> str:
    """Words for an endpoint code: an ADTTE endpoint, an instrument domain (``zrm_2017:housing`` ->
    "ZRM 2017: huisvesting"), a re-integration endpoint; the code itself when unknown."""
    pair = ENDPOINTS.get(str(endpoint)) or REINTEGRATION_ENDPOINTS.get(str(endpoint))
    if pair:
        return _pick(pair, language)
    head, sep, tail = str(endpoint).partition(":")
    if sep and head in REINTEGRATION_ENDPOINTS:
        inner = REINTEGRATION_ENDPOINTS.get(tail) if head == "circumstances" else None
        if inner is None:
            titles, domains = instrument_words()
            inner = domains.get(("zrm_2017", tail)) or domains.get(("zrm_2010", tail))
        return f"{_pick(REINTEGRATION_ENDPOINTS[head], language)}: {_pick(inner, language) if inner else tail}"
    if sep:
        titles, domains = instrument_words()
        if head in titles or (head, tail) in domains:
            dom = domains.get((head, tail))
            return f"{_pick(titles.get(head, (head, head)), language)}: {_pick(dom, language) if dom else tail}"
    return str(endpoint)


def group_label(group: str, language: str = "nl") -> str:
    """Words for a result group; unknown groups (subgroup labels) are shown as given."""
    pair = GROUPS.get(str(group))
    return _pick(pair, language) if pair else str(group)


# ---------------------------------------------------------------------------
# tables shown in a report: column headers and cell values (display only)
# ---------------------------------------------------------------------------

# column name -> (English header, Dutch header). Covers RESULT_COLUMNS and the
# columns of the tables the notebooks show (quality, retention, fidelity,
# trends). Files written for researchers keep the machine names.
COLUMNS: dict[str, tuple[str, str]] = {
    # RESULT_COLUMNS
    "programme_id": ("programme", "programma"),
    "analysis": ("analysis", "analyse"),
    "estimand": ("measure", "maat"),
    "endpoint": ("outcome", "uitkomst"),
    "group": ("group", "groep"),
    "estimate": ("estimate", "schatting"),
    "ci_lower": ("95% CI lower limit", "95%-BI ondergrens"),
    "ci_upper": ("95% CI upper limit", "95%-BI bovengrens"),
    "p_value": ("p-value", "p-waarde"),
    "n": ("number (n)", "aantal (n)"),
    "events": ("events", "gebeurtenissen"),
    "method": ("method", "methode"),
    "causal": ("causal", "causaal"),
    "note": ("note", "toelichting"),
    # recidivism: data summary, balance and overlap of the design
    "people": ("people", "personen"),
    "full_1y_follow_up": ("with a full year of follow-up", "met een volledig jaar follow-up"),
    "died_or_emigrated": ("died or emigrated", "overleden of geëmigreerd"),
    "median_follow_up_days": ("median follow-up (days)", "mediane follow-up (dagen)"),
    "person_years_at_risk": ("person-years at risk", "persoonsjaren at risk"),
    "covariate": ("characteristic", "kenmerk"),
    "binary": ("yes/no characteristic", "ja/nee-kenmerk"),
    "mean_programme": ("mean, participants", "gemiddelde, deelnemers"),
    "mean_comparison": ("mean, comparison group", "gemiddelde, vergelijkingsgroep"),
    "smd_before": ("standardised difference before", "gestandaardiseerd verschil vooraf"),
    "variance_ratio_before": ("variance ratio before", "variantieverhouding vooraf"),
    "mean_programme_adjusted": ("mean, participants (matched/weighted)", "gemiddelde, deelnemers (gematcht/gewogen)"),
    "mean_comparison_adjusted": ("mean, comparison (matched/weighted)", "gemiddelde, vergelijking (gematcht/gewogen)"),
    "smd_after": ("standardised difference after", "gestandaardiseerd verschil achteraf"),
    "variance_ratio_after": ("variance ratio after", "variantieverhouding achteraf"),
    "ps_min": ("propensity score: minimum", "propensity score: laagste"),
    "ps_q25": ("propensity score: 25th percentile", "propensity score: 25e percentiel"),
    "ps_median": ("propensity score: median", "propensity score: mediaan"),
    "ps_q75": ("propensity score: 75th percentile", "propensity score: 75e percentiel"),
    "ps_max": ("propensity score: maximum", "propensity score: hoogste"),
    "share_outside_other_range": ("share outside the other group's range", "aandeel buiten het bereik van de andere groep"),
    "poor_overlap": ("poor overlap", "slechte overlap"),
    "supported": ("enough people to judge (10 or more)", "genoeg personen om te beoordelen (10 of meer)"),
    "suppressed": ("suppressed (small numbers)", "onderdrukt (kleine aantallen)"),
    # data quality
    "table": ("table", "tabel"),
    "rows_read": ("rows read", "rijen gelezen"),
    "rows_accepted": ("rows accepted", "rijen goedgekeurd"),
    "rows_quarantined": ("rows quarantined", "rijen in quarantaine"),
    "share_accepted": ("share accepted", "aandeel goedgekeurd"),
    "blocking": ("table refused", "tabel geweigerd"),
    "rule": ("rule", "regel"),
    "severity": ("severity", "ernst"),
    "n_issues": ("findings", "bevindingen"),
    "n_rows": ("rows", "rijen"),
    "message": ("description", "omschrijving"),
    "field": ("field", "veld"),
    "required": ("required", "verplicht"),
    "n_filled": ("rows filled", "rijen gevuld"),
    "share_filled": ("share filled", "aandeel gevuld"),
    # fidelity
    "indicator": ("indicator", "indicator"),
    "target": ("target", "doel"),
    "target_source": ("source of the target", "bron van het doel"),
    "observed": ("observed", "gemeten"),
    "numerator": ("numerator", "teller"),
    "unit": ("unit", "eenheid"),
    "meets_target": ("target met", "doel gehaald"),
    # trends, workforce, recidivism
    "quarter": ("quarter", "kwartaal"),
    "quarter_from": ("from quarter", "van kwartaal"),
    "quarter_to": ("to quarter", "naar kwartaal"),
    "active_start": ("active at start of quarter", "actief bij begin kwartaal"),
    "joiners": ("joiners", "instroom"),
    "leavers": ("leavers", "uitstroom"),
    "active_end": ("active at end of quarter", "actief bij einde kwartaal"),
    "annual_turnover": ("annual turnover", "jaarlijkse uitstroom"),
    "warning": ("warning", "waarschuwing"),
    "headline_eligible": ("usable for the headline", "bruikbaar voor de kernboodschap"),
    "role": ("role of the measure", "rol van de maat"),
    "effect_scale": ("scale of the effect", "schaal van het effect"),
    "excluded_reason": ("why not pooled", "waarom niet samengenomen"),
}

ANALYSES: dict[str, tuple[str, str]] = {
    "data_quality": ("data quality", "datakwaliteit"),
    "recidivism": ("reoffending", "recidive"),
    "retention": ("retention", "behoud"),
    "fidelity": ("implementation fidelity", "programma-integriteit"),
    "costs": ("costs", "kosten"),
    "synthesis": ("synthesis across programmes", "synthese over programma's"),
    "trends": ("change across quarters", "ontwikkeling over kwartalen"),
}

# codes that appear as cell values (contract codes, table names, covariates)
CODES: dict[str, tuple[str, str]] = {
    # the intake score of an instrument domain, a covariate of the re-integration models
    "baseline": ("intake score", "instroomscore"),
    # tables of the data contract
    "participants": ("participants", "deelnemers"),
    "volunteers": ("volunteers", "vrijwilligers"),
    "matches": ("matches", "koppelingen"),
    "contacts": ("contacts", "contacten"),
    "volunteer_support": ("training and supervision of volunteers", "training en supervisie van vrijwilligers"),
    "justice_events": ("criminal cases", "strafzaken"),
    "detention_periods": ("periods in detention", "detentieperiodes"),
    "rj_sessions": ("restorative justice sessions", "herstelrechtbijeenkomsten"),
    "costs": ("costs", "kosten"),
    "participant_covariates": ("further intake characteristics", "verdere kenmerken bij instroom"),
    "assessments": ("self-sufficiency assessments", "zelfredzaamheidsmetingen"),
    "goals": ("personal goals", "persoonlijke doelen"),
    "circumstances": ("employment, housing and income", "werk, wonen en inkomen"),
    "volunteer_outcomes": ("outcomes of peer volunteers", "uitkomsten van ervaringsdeskundige vrijwilligers"),
    "(all tables)": ("(all tables)", "(alle tabellen)"),
    # role of a result (docs/methods.md, section 'Primary outcome')
    "primary": ("primary outcome", "primaire uitkomstmaat"),
    "secondary": ("secondary", "secundair"),
    # severity, fidelity
    "error": ("error", "fout"),
    "warning": ("warning", "waarschuwing"),
    "observed": ("observed", "gemeten"),
    "programme description": ("programme description", "programmabeschrijving"),
    "not set": ("not set", "niet vastgelegd"),
    "share": ("share", "aandeel"),
    "share of items": ("share of items", "aandeel items"),
    # why volunteers stop
    "time_constraints": ("lack of time", "tijdgebrek"),
    "work_or_study": ("work or study", "werk of studie"),
    "moved": ("moved away", "verhuisd"),
    "dissatisfied": ("dissatisfied", "ontevreden"),
    "personal_circumstances": ("personal circumstances", "persoonlijke omstandigheden"),
    "health": ("health", "gezondheid"),
    "ended_by_organisation": ("ended by the organisation", "beëindigd door de organisatie"),
    "assignment_completed": ("assignment completed", "opdracht afgerond"),
    # how matches and programmes end
    "planned_completion": ("completed as planned", "volgens plan afgerond"),
    "participant_withdrew": ("participant withdrew", "deelnemer haakte af"),
    "volunteer_withdrew": ("volunteer withdrew", "vrijwilliger haakte af"),
    "ended_by_professional": ("ended by a professional", "beëindigd door de beroepskracht"),
    "participant_reoffended": ("participant reoffended", "deelnemer recidiveerde"),
    "completed": ("completed", "afgerond"),
    "dropped_out": ("dropped out", "voortijdig gestopt"),
    "other_end": ("other ending", "ander einde"),
    "excluded": ("excluded", "uitgesloten"),
    "reoffended": ("reoffended", "gerecidiveerd"),
    "died": ("died", "overleden"),
    "other": ("other", "overig"),
    "unknown": ("unknown", "onbekend"),
    # covariates of the Cox models
    "lived_experience": ("volunteer with lived experience", "vrijwilliger is ervaringsdeskundige"),
    "basic_training": ("basic training received", "basistraining gevolgd"),
    "basic_training_by_landmark": ("basic training by the landmark", "basistraining gevolgd vóór het landmark"),
    "supervision": ("supervision received", "supervisie ontvangen"),
    "recognition": ("recognition received", "waardering ontvangen"),
    "goals_agreed": ("goals agreed", "doelen afgesproken"),
    "same_sex": ("same sex", "hetzelfde geslacht"),
    "participant_risk_high": ("participant at high risk", "deelnemer met hoog risico"),
    "contacts_per_month_early": ("contacts per month early in the match", "contacten per maand aan het begin van de koppeling"),
    # recruitment channels
    "local_network": ("local network", "lokaal netwerk"),
    "website_social_media": ("website or social media", "website of sociale media"),
    "volunteer_centre": ("volunteer centre", "vrijwilligerscentrale"),
    "personal_invitation": ("personal invitation", "persoonlijke uitnodiging"),
    "probation_referral": ("referred by probation", "via de reclassering"),
    "education": ("education", "onderwijs"),
    "other_small": ("small categories pooled", "kleine categorieën samengevoegd"),
    # risk levels, programme types, organisation models
    "low": ("low", "laag"),
    "medium": ("medium", "gemiddeld"),
    "high": ("high", "hoog"),
    "mentoring": ("mentoring", "mentorprogramma"),
    "peer_mentoring": ("peer mentoring", "peer mentoring"),
    # published tables (file names of a report folder), shown as captions
    "completeness": ("completeness of the fields", "volledigheid van de velden"),
    "completeness_by_programme": ("completeness by programme", "volledigheid per programma"),
    "reconciliation": ("reconciliation with the programme's own counts", "aansluiting op de eigen tellingen"),
    "reconciliation_by_programme": ("reconciliation by programme", "aansluiting per programma"),
    "issues_by_rule": ("data problems by rule", "gegevensproblemen per regel"),
    "key_results": ("key results", "belangrijkste resultaten"),
    "balance": ("balance of intake characteristics", "balans van kenmerken bij instroom"),
    "overlap": ("overlap of propensity scores", "overlap van propensityscores"),
    "numbers_at_risk": ("numbers at risk", "aantallen at risk"),
    "cumulative_incidence": ("cumulative incidence of a new case", "cumulatieve incidentie van een nieuwe zaak"),
    "unit_costs": ("costs per unit", "kosten per eenheid"),
    "costs_by_quarter": ("costs by quarter", "kosten per kwartaal"),
    "cost_effectiveness": ("cost per reoffender avoided", "kosten per voorkomen recidivist"),
    "workforce_flow": ("volunteers joining and leaving", "in- en uitstroom van vrijwilligers"),
    "fidelity_table": ("implementation fidelity", "programma-integriteit"),
    "programme_effects": ("effects per programme", "effecten per programma"),
    "moderator_tests": ("tests of moderators", "toetsen op moderatie"),
    "trend_table": ("change across quarters", "ontwikkeling over de kwartalen"),
    # effect scales of the synthesis
    "log_hazard_ratio": ("log hazard ratio", "log hazard ratio"),
    "log_rate_per_year": ("log rate per year", "log aantal per jaar"),
    "prevalence_730d_crude": ("difference in 2-year reoffending", "verschil in recidive binnen twee jaar"),
    "prevalence_365d_crude": ("difference in 1-year reoffending", "verschil in recidive binnen een jaar"),
    "log_volunteer_stopping_rate": ("log stopping rate of volunteers", "log stoppercentage van vrijwilligers"),
    # derived covariates of the analysis datasets
    "age_at_intake": ("age at intake", "leeftijd bij instroom"),
    # programme descriptors of programmes.yaml (the synthesis's moderators)
    "professional": ("professional-led", "door beroepskrachten geleid"),
    "shared": ("shared", "gedeeld"),
    "voluntary": ("volunteer-led", "door vrijwilligers geleid"),
    "core": ("core task", "kerntaak"),
    "supplementary": ("supplementary task", "aanvullende taak"),
    "risk_management": ("risk management", "risicobeheersing"),
    "social_inclusion": ("social inclusion", "sociale inclusie"),
    "mixed": ("mixed", "gemengd"),
    "strict": ("strict", "strikt"),
    "wide": ("wide", "ruim"),
    "cosa": ("COSA", "COSA"),
    "restorative_justice": ("restorative justice", "herstelrecht"),
    "commissioner": ("commissioner model", "opdrachtgevermodel"),
    "contractor": ("contractor model", "aannemersmodel"),
    "employer": ("employer model", "werkgeversmodel"),
}

# subgroup keys in group labels such as "risk_level=high" or "recruitment_channel[education]"
SUBGROUP_KEYS: dict[str, tuple[str, str]] = {
    "programme_id": ("programme", "programma"),
    "programme_type": ("programme type", "programmatype"),
    "organisation_model": ("organisation model", "organisatiemodel"),
    "risk_level": ("risk level", "risiconiveau"),
    "recruitment_channel": ("recruitment channel", "wervingskanaal"),
    "sex": ("sex", "geslacht"),
    "quarter": ("quarter", "kwartaal"),
}


# notes are written in English by the analyses ("; "-separated parts); the
# Dutch report shows each known part in Dutch and unknown parts as written.
NOTES: list[tuple[str, str]] = [
    (r"only (\d+) programme\(s\) with an estimable effect \(need (\d+)\)",
     "maar {0} programma('s) met een te schatten effect (nodig: {1})"),
    (r"not estimable: only (\d+) programme\(s\) with an estimable effect \(need (\d+)\)",
     "niet te schatten: maar {0} programma('s) met een te schatten effect (nodig: {1})"),
    (r"estimate or interval missing", "schatting of interval ontbreekt"),
    (r"ratio or interval not positive", "ratio of interval niet positief"),
    (r"degenerate interval", "ontaard interval"),
    (r"not shown: fewer than (\d+) people", "niet getoond: minder dan {0} personen"),
    # reasons of the Cox fitter (evaluation.stats.survival.cox) and of the RMST (effects.rmst_difference)
    (re.escape("not estimable: monotone likelihood (no events in one group / complete separation)"),
     "niet te schatten: monotone likelihood (geen gebeurtenissen in een groep / volledige scheiding)"),
    (re.escape("not estimable: singular information (collinear with other covariates, or no variation among "
               "people at risk when events occur)"),
     "niet te schatten: singuliere informatiematrix (samenhangend met andere kenmerken, of geen variatie onder "
     "de mensen at risk op de momenten van een gebeurtenis)"),
    (re.escape("not estimable: covariate is constant"), "niet te schatten: het kenmerk is constant"),
    (re.escape("not estimable: fewer than five events in one group for a hazard ratio (near-separation)"),
     "niet te schatten: minder dan vijf gebeurtenissen in een groep voor een hazardratio (bijna-scheiding)"),
    (re.escape("not estimable: hazard ratio or interval limit below 0.005 or above 200, or interval wider than a "
               "factor of 100 (near-separation)"),
     "niet te schatten: hazardratio of intervalgrens onder 0,005 of boven 200, of interval breder dan een factor "
     "100 (bijna-scheiding)"),
    (re.escape("sensitivity analysis: time at risk (days in detention not counted)"),
     "gevoeligheidsanalyse: tijd at risk (dagen in detentie niet meegeteld)"),
    (re.escape("not estimable: Newton-Raphson did not converge"),
     "niet te schatten: het schattingsalgoritme (Newton-Raphson) convergeerde niet"),
    (re.escape("not estimable: standard error zero or not finite, or hazard ratio beyond floating-point range "
               "(rescale the covariate)"),
     "niet te schatten: standaardfout nul of oneindig, of hazardratio buiten het rekenbereik (herschaal het kenmerk)"),
    (r"not estimable: horizon of (\d+) days lies beyond the follow-up: the longest time observed in group '([^']+)' "
     r"is ([\d.]+) days",
     "niet te schatten: de horizon van {0} dagen ligt voorbij de follow-up: de langste geobserveerde tijd in groep "
     "'{1}' is {2} dagen"),
    (r"counts rows, not people", "telt rijen, geen personen"),
    (r"interval treats rows as independent \(too narrow when rows cluster\)",
     "het interval behandelt rijen als onafhankelijk (te smal als rijen samenhangen)"),
    (r"fewer than 30 rows: interval is rough", "minder dan 30 rijen: het interval is grof"),
    (r"horizon beyond the longest follow-up: not estimable", "horizon voorbij de langste follow-up: niet te schatten"),
    (r"median not reached", "mediaan niet bereikt"),
    (r"observational association, not a causal effect", "samenhang in observationele gegevens, geen causaal effect"),
    (r"at ([\d.]+) months", "na {0} maanden"),
    (r"only (\d+) units: imprecise", "slechts {0} eenheden: onnauwkeurig"),
    (r"only (\d+) matches: imprecise", "slechts {0} koppelingen: onnauwkeurig"),
    (r"only (\d+) ended participants: imprecise", "slechts {0} deelnemers met een beëindigd traject: onnauwkeurig"),
    (r"only (\d+) still at risk at ([\d.]+) months", "nog slechts {0} at risk na {1} maanden"),
    (r"(\d+) row\(s\) with a missing covariate left out \(complete-case analysis\)",
     "{0} rij(en) met een ontbrekende covariaat weggelaten (complete-case-analyse)"),
    (r"no events of this reason: no interval", "geen gebeurtenissen met deze reden: geen interval"),
    (r"p < ([\d.]+) suggests the hazard ratio changes over time",
     "p < {0}: de hazard ratio verandert mogelijk in de tijd"),
    (r"landmark at ([\d.]+) months: (\d+|fewer than \d+) volunteers? who stopped or were censored before it are not "
     r"in this analysis",
     "landmark na {0} maanden: {1} vrijwilligers die daarvoor stopten of gecensureerd werden, tellen niet mee"),
    (r"per extra contact a month in the first (\d+) days, among matches still running then \((\d+) ended earlier\)",
     "per extra contact per maand in de eerste {0} dagen, onder koppelingen die toen nog liepen ({1} eerder beëindigd)"),
    (r"not estimable: no events or no variation in exposure at the landmark",
     "niet te schatten: geen gebeurtenissen of geen variatie in blootstelling op het landmark"),
    (r"not estimable: no events or no variation in the covariates",
     "niet te schatten: geen gebeurtenissen of geen variatie in de covariaten"),
    (r"suppressed: based on fewer than (\d+) people \(n < (\d+)\)",
     "onderdrukt: gebaseerd op minder dan {0} personen (n < {1})"),
    (r"suppressed: based on fewer than (\d+) people \(events < (\d+)\)",
     "onderdrukt: gebaseerd op minder dan {0} personen (gebeurtenissen < {1})"),
    (r"volunteers who stopped earlier count as not reached", "vrijwilligers die eerder stopten, tellen als niet gehaald"),
    (r"suppressed: a group it compares is based on fewer than (\d+) people or events",
     "onderdrukt: een groep waarmee wordt vergeleken, berust op minder dan {0} personen of gebeurtenissen"),
    (r"suppressed: withheld so that a programme's count below (\d+) cannot be derived from this total",
     "onderdrukt: achtergehouden zodat een aantal onder {0} van een programma niet uit dit totaal af te leiden is"),
    (r"descriptive design without a reference rate: only the programme's own rates are reported",
     "beschrijvende opzet zonder referentiecijfer: alleen de eigen cijfers van het programma worden getoond"),
    (r"matching: (\S+) of (\d+) programme participants found no comparison person within the caliper "
     r"\(([\d.]+) SD of the logit PS\) and are left out",
     "matching: {0} van de {1} deelnemers vonden geen vergelijkingspersoon binnen de caliper ({2} SD van de "
     "logit van de propensity score) en vallen weg"),
    (r"the estimate then describes the matched participants only",
     "de schatting beschrijft dan alleen de gematchte deelnemers"),
    (r"(\S+) programme participants had no comparison person within the caliper and are not in the matched analysis",
     "{0} deelnemers hadden geen vergelijkingspersoon binnen de caliper en zitten niet in de gematchte analyse"),
    (r"justice_events: (\S+) counted case\(s\) lack custodial_days and are not counted as custodial: the "
     r"custodial rate is a lower bound",
     "justice_events: bij {0} meegetelde zaak/zaken ontbreekt custodial_days; die tellen niet als vrijheidsstraf, dus "
     "het cijfer voor recidive met vrijheidsstraf is een ondergrens"),
    (r"([A-Z_]+): (\S+) programme participants reoffended \(fewer than (\d+)\): time-to-event results are not "
     r"headline results",
     "{0}: {1} deelnemers recidiveerden (minder dan {2}): resultaten over de tijd tot recidive zijn geen "
     "kernresultaten"),
    (r"only (\S+) programme participants in the analysis \(the Justice Data Lab requires at least (\d+)\): "
     r"results are imprecise and indicative only",
     "slechts {0} deelnemers in de analyse (het Justice Data Lab vraagt er minstens {1}): de resultaten zijn "
     "onnauwkeurig en alleen indicatief"),
    (r"all programmes pooled: programme types differ", "alle programma's samen: de programmatypen verschillen"),
    (r"for matching the propensity model includes the programme, but comparison persons may come from another "
     r"programme's pool",
     "bij matching bevat het propensitymodel het programma, maar vergelijkingspersonen kunnen uit de pool van een "
     "ander programma komen"),
    (r"balance: \|SMD\| >= ([\d.]+) after adjustment for (\S+) covariate\(s\): (.+)",
     "balans: |SMD| >= {0} na correctie bij {1} kenmerk(en): {2}"),
    (r"the comparison may be biased", "de vergelijking kan vertekend zijn"),
    (r"propensity model: maximum likelihood did not converge \(separation: some covariate pattern occurs in one "
     r"group only\)",
     "propensitymodel: de maximum-likelihoodschatting convergeerde niet (scheiding: een combinatie van kenmerken "
     "komt maar in één groep voor)"),
    (r"a lightly penalised fit was used\. Check overlap\.", "er is een licht bestrafte schatting gebruikt; controleer de overlap."),
    # the propensity model and the causal label (evaluation.stats.designs: describe_support, causal_judgement)
    (r"propensity model: maximum likelihood failed \(separation: some covariate pattern occurs in one group only, "
     r"or no convergence\)",
     "propensitymodel: de maximum-likelihoodschatting mislukte (scheiding: een combinatie van kenmerken komt maar in "
     "één groep voor, of geen convergentie)"),
    (r"a ridge-penalised fit was used\. Check overlap\.",
     "er is een ridge-bestrafte schatting gebruikt; controleer de overlap."),
    (r"causal reading assumes no unmeasured confounding \(all common causes of taking part and reoffending are "
     r"among the intake covariates\) and adequate overlap",
     "causale lezing veronderstelt geen ongemeten confounding (alle gemeenschappelijke oorzaken van deelname en "
     "recidive zitten in de kenmerken bij instroom) en voldoende overlap"),
    (r"estimand ATT", "estimand ATT (gemiddeld effect bij de deelnemers)"),
    (r"causal: all supported covariates balanced after matching \(max \|SMD\| ([\d.]+)\)",
     "causaal: alle kenmerken met voldoende steun in balans na matching (max |SMD| {0})"),
    (r"causal: all supported covariates balanced after weighting \(max \|SMD\| ([\d.]+)\)",
     "causaal: alle kenmerken met voldoende steun in balans na weging (max |SMD| {0})"),
    (r"not causal: imbalance after matching in (.+)", "niet causaal: onbalans na matching bij {0}"),
    (r"not causal: imbalance after weighting in (.+)", "niet causaal: onbalans na weging bij {0}"),
    (r"not causal: poor overlap \((\d+%) of participants outside the comparison group's PS range\)",
     "niet causaal: slechte overlap ({0} van de deelnemers buiten het bereik van de propensity scores van de "
     "vergelijkingsgroep)"),
    (r"not judged \(fewer than (\d+) people\): (.+)", "niet beoordeeld (minder dan {0} personen): {1}"),
]
for _en, _nl in (("in both groups", "in beide groepen"), ("programme group only", "alleen in de programmagroep"),
                 ("comparison group only", "alleen in de vergelijkingsgroep")):
    NOTES += [
        (rf"propensity model: (\S+)=(.+) pooled into '(.+)' \((fewer than \d+|\d+) people, {_en}\)",
         f"propensitymodel: {{0}}={{1}} samengevoegd met '{{2}}' ({{3}} personen, {_nl})"),
        (rf"propensity model: missing indicator of (\S+) left out, missing values set to the observed mean "
         rf"\((fewer than \d+|\d+) people missing, {_en}\)",
         f"propensitymodel: ontbrekend-indicator van {{0}} weggelaten, ontbrekende waarden op het gemiddelde gezet "
         f"({{1}} personen met een ontbrekende waarde, {_nl})"),
        (rf"propensity model: (\S+) left out \((\S+): (fewer than \d+|\d+) people, {_en}\)",
         f"propensitymodel: {{0}} weggelaten ({{1}}: {{2}} personen, {_nl})"),
    ]
NOTES += [
    (r"([A-Z_]+): no events, cumulative incidence not estimated",
     "{0}: geen gebeurtenissen, cumulatieve incidentie niet geschat"),
    (r"only (\d+) events: imprecise, read as exploratory", "slechts {0} gebeurtenissen: onnauwkeurig, lees als verkennend"),
    (r"(\w+): levels (.+) \(fewer than (\d+) rows\) pooled",
     "{0}: niveaus {1} (minder dan {2} rijen) samengevoegd"),
    (r"not estimable: the likelihood is monotone \(no events in one level of this covariate\)",
     "niet te schatten: de likelihood is monotoon (geen gebeurtenissen in één niveau van dit kenmerk)"),
    (r"CoxModel: a coefficient exceeds 20 on the log scale", "Cox-model: een coëfficiënt is groter dan 20 op de log-schaal"),
    (r"the likelihood is probably monotone \(no events in one covariate level\)",
     "de likelihood is waarschijnlijk monotoon (geen gebeurtenissen in één niveau van een kenmerk); de hazardratio "
     "van dat kenmerk is niet te schatten"),
    (r"CoxModel: (\d+|<\d+) events for (\d+) covariates \(fewer than 10 per covariate\)",
     "Cox-model: {0} gebeurtenissen voor {1} covariaten (minder dan 10 per covariaat)"),
    (r"estimates may be unstable", "de schattingen kunnen instabiel zijn"),
    (r"(\d+) row\(s\) have a missing covariate and are left out of the Cox model",
     "{0} rij(en) met een ontbrekende covariaat zijn weggelaten uit het Cox-model"),
    (r"within (\d+) months of the start", "binnen {0} maanden na de start"),
    (r"contacts delivered per planned contact \(([\d.]+) a month\)",
     "geleverde contacten per gepland contact ({0} per maand)"),
    (r"(\d+) match\(es\) observed for less than (\d+) days not assessed",
     "{0} koppeling(en) korter dan {1} dagen gevolgd: niet beoordeeld"),
    (r"interval not computable \(fewer than 2 matches or no contacts\)",
     "interval niet te berekenen (minder dan 2 koppelingen of geen contacten)"),
    (r"participants never matched count as not matched in time",
     "deelnemers die nooit gekoppeld zijn, tellen als niet op tijd gekoppeld"),
    (r"target risk levels: (.+)", "risiconiveaus van de doelgroep: {0}"),
    (r"programme description has no (\S+): not assessed", "programmabeschrijving vermeldt geen {0}: niet beoordeeld"),
    (r"(\d+) match\(es\) with sex unknown or other not assessed",
     "{0} koppeling(en) met geslacht onbekend of anders: niet beoordeeld"),
    (r"(\d+) agreement\(s\) without a recorded outcome left out",
     "{0} afspraak/afspraken zonder vastgelegde uitkomst weggelaten"),
    (r"(\d+|fewer than \d+) volunteers? started too recently to assess",
     "{0} vrijwilligers te kort geleden begonnen om te beoordelen"),
    (r"no units to assess", "niets te beoordelen"),
    (r"no indicator in the data measures this target \(or its data are absent\)",
     "geen indicator in de gegevens meet dit doel (of de gegevens ontbreken)"),
    (r"missing: (.+)", "ontbreekt: {0}"),
    (r"all (\d+) items described", "alle {0} items beschreven"),
    (r"quarters share people, so the interval is conservative",
     "kwartalen delen personen, dus het interval is conservatief (te ruim)"),
    (r"descriptive change, not an effect", "beschrijvende verandering, geen effect"),
    (r"(\w+): (\d{4}Q[1-4]) to (\d{4}Q[1-4])", "{0}: {1} tot {2}"),
    # costs (evaluation.analyses.costs): census notes, the value of volunteer time and its default source
    (r"recorded total for the whole programme \(census, no sampling interval\)",
     "vastgelegd totaal voor het hele programma (volledige telling, geen steekproefinterval)"),
    (r"(\d+) contacts without minutes are not counted", "{0} contacten zonder minuten zijn niet meegeteld"),
    (r"contact hours only x EUR ([\d.]+)/hour", "alleen contacturen × € {0} per uur"),
    (r"contact \+ support hours x EUR ([\d.]+)/hour", "uren contact en begeleiding × € {0} per uur"),
    (r"Replacement-cost valuation of volunteer time \(Meijs, Huisman & Roza 2011, Erasmus Centre for "
     r"Strategic Philanthropy",
     "Waardering van vrijwilligerstijd tegen vervangingskosten (Meijs, Huisman & Roza 2011, Erasmus Centre "
     "for Strategic Philanthropy"),
    (r"source: Replacement-cost valuation of volunteer time \(Meijs, Huisman & Roza 2011, Erasmus Centre for "
     r"Strategic Philanthropy",
     "bron: waardering van vrijwilligerstijd tegen vervangingskosten (Meijs, Huisman & Roza 2011, Erasmus Centre "
     "for Strategic Philanthropy"),
    (r"Movisie, 'De waarde van vrijwillige inzet'\) at a conservative lower bound: the Dutch statutory gross minimum "
     r"wage per hour for employees aged 21 and over \(EUR ([\d.]+) from 1 January (\d{4}), Rijksoverheid",
     "Movisie, 'De waarde van vrijwillige inzet'), als voorzichtige ondergrens: het wettelijk bruto minimumuurloon "
     "voor werknemers van 21 jaar en ouder (€ {0} vanaf 1 januari {1}, Rijksoverheid"),
    (r"it changes every 1 January and 1 July\)\. Check the current figure and, if needed, set another hourly rate "
     r"in the parameters of the cost analysis, e\.g\. the gross hourly wage of a comparable professional for a full replacement value\.",
     "het bedrag verandert op 1 januari en 1 juli). Controleer het actuele bedrag en stel zo nodig in de parameters "
     "van de kostenanalyse een ander uurtarief in, bijvoorbeeld het bruto uurloon van een vergelijkbare "
     "beroepskracht voor de volledige vervangingswaarde."),
    (r"not estimable: no trajectory completed in the period", "niet te schatten: geen traject afgerond in de periode"),
    (r"not estimable: no participants active in the period",
     "niet te schatten: geen actieve deelnemers in de periode"),
    (r"share of recorded costs falling after the analysis cutoff",
     "aandeel van de vastgelegde kosten na de peildatum"),
    (r"not used in unit costs", "niet gebruikt in de kosten per eenheid"),
    (r"not estimable: no recidivism effect with a confidence interval for this programme",
     "niet te schatten: geen recidive-effect met betrouwbaarheidsinterval voor dit programma"),
    (r"not estimable: the recidivism effect has a zero-width confidence interval \(too few reoffences to estimate "
     r"it\)",
     "niet te schatten: het betrouwbaarheidsinterval van het recidive-effect heeft breedte nul (te weinig recidive "
     "om het te schatten)"),
    (r"the programme shows no reduction in reoffending: no cost per reoffender avoided",
     "het programma laat geen daling van de recidive zien: geen kosten per voorkomen recidivist"),
    (r"the reduction in reoffending is not statistically significant: the cost per reoffender avoided is not "
     r"reported as a point estimate",
     "de daling van de recidive is niet statistisch significant: de kosten per voorkomen recidivist worden niet als "
     "puntschatting gegeven"),
    (r"only its interval \(unbounded above\) and the probabilities are",
     "alleen het interval (naar boven onbegrensd) en de kansen"),
    (r"upper limit infinite: the interval includes the possibility of no reduction",
     "bovengrens oneindig: het interval laat open dat er geen daling is"),
    (r"not causal: the comparison behind the effect is not randomised or not balanced, so the cost is not set "
     r"against an effect of the programme",
     "niet causaal: de vergelijking achter het effect is niet gerandomiseerd of niet in balans, dus de kosten worden "
     "niet afgezet tegen een effect van het programma"),
    (r"share of simulated effects showing a reduction in reoffending",
     "aandeel gesimuleerde effecten met een daling van de recidive"),
    (r"share of simulated effects for which avoided reoffence costs exceed programme costs",
     "aandeel gesimuleerde effecten waarbij de vermeden kosten van recidive hoger zijn dan de programmakosten"),
    (r"reduction in the reoffending proportion needed to recover the cost at EUR ([\d,]+) per reoffence "
     r"\(user-supplied cost of one reoffence \(set cost_per_reoffence_eur, e\.g\. from WODC cost-of-crime estimates "
     r"for the programme's offence mix\)\)",
     "daling van het aandeel recidivisten die nodig is om de kosten terug te verdienen bij € {0} per recidive "
     "(door de gebruiker opgegeven kosten van één recidive, bijvoorbeeld uit WODC-ramingen van de kosten van "
     "criminaliteit voor de delictmix van het programma)"),
    (r"avoided reoffence costs minus programme cost, per participant \(median, percentile interval\)",
     "vermeden kosten van recidive min programmakosten, per deelnemer (mediaan, percentielinterval)"),
    # recidivism (evaluation.analyses.recidivism, recidivism_subgroups; evaluation.stats.survival.effects)
    (r"randomised comparison \(intention to treat\)",
     "gerandomiseerde vergelijking (analyse naar loting: iedereen telt mee in de groep waarin hij is ingeloot)"),
    (r"not causal: programme participants compared with a reference rate",
     "niet causaal: deelnemers vergeleken met een referentiecijfer"),
    (r"all programmes pooled: an average over programmes of different types",
     "alle programma's samen: een gemiddelde over programma's van verschillende typen"),
    (r"not causal: reference rate from another population", "niet causaal: referentiecijfer uit een andere populatie"),
    (r"differences may reflect who takes part, not the programme",
     "verschillen kunnen komen door wie er deelneemt, niet door het programma"),
    (r"reference: (.+)", "bron van het referentiecijfer: {0}"),
    (r"WARNING fewer than (\d+) participants", "WAARSCHUWING: minder dan {0} deelnemers"),
    (r"not estimable: no events in one of the groups", "niet te schatten: geen gebeurtenissen in een van de groepen"),
    (r"not estimable: one group only, or no events in one group, in this subgroup",
     "niet te schatten: maar één groep, of geen gebeurtenissen in een groep, in deze subgroep"),
    (r"subgroup results are exploratory", "resultaten per subgroep zijn verkennend"),
    (r"not estimated: fewer than (\d+) new cases in a group \(negative binomial model unstable\)",
     "niet geschat: minder dan {0} nieuwe zaken in een groep (negatief-binomiaal model instabiel)"),
    (r"weighted: weights treated as fixed \(not re-estimated\)",
     "gewogen: de gewichten gelden als vast gegeven (niet opnieuw geschat)"),
    (r"fewer than (\d+) events in programme", "minder dan {0} gebeurtenissen in de programmagroep"),
    (r"fewer than (\d+) events in comparison", "minder dan {0} gebeurtenissen in de vergelijkingsgroep"),
    (r"fewer than (\d+) events in programme, comparison",
     "minder dan {0} gebeurtenissen in de programmagroep en in de vergelijkingsgroep"),
    # retention (evaluation.analyses.retention_cox) and the survival fitters' warnings
    (r"(\w+): reference level '([^']+)'", "{0}: referentieniveau '{1}'"),
    (r"constant covariate\(s\) \[?(.+?)\]? left out", "constante kenmerken weggelaten: {0}"),
    (r"CoxModel: coefficient\(s\) not estimable: (\w+) \((.+)\)", "Cox-model: niet te schatten voor {0} ({1})"),
    (r"KaplanMeier \(programme\): no events among (\d+) rows",
     "Kaplan-Meier (deelnemers): geen gebeurtenissen onder {0} rijen"),
    (r"KaplanMeier \(comparison\): no events among (\d+) rows",
     "Kaplan-Meier (vergelijkingsgroep): geen gebeurtenissen onder {0} rijen"),
    (r"KaplanMeier \((\w+)\): no events among (\d+) rows", "Kaplan-Meier ({0}): geen gebeurtenissen onder {1} rijen"),
    (r"S\(t\) = 1 throughout", "S(t) = 1 over de hele periode"),
    (r"workforce flow: after rounding, small counts of group\(s\) (.+) could still be narrowed down from the "
     r"published table",
     "instroom en uitstroom: na afronding zijn kleine aantallen van groep(en) {0} nog af te leiden uit de "
     "gepubliceerde tabel"),
    (r"their counts are not published", "hun aantallen worden niet gepubliceerd"),
    # synthesis (evaluation.stats.meta, evaluation.analyses.synthesis)
    (r"interval where the effect of a new, similar programme is expected to lie",
     "interval waarin het effect van een nieuw, vergelijkbaar programma naar verwachting ligt"),
    (r"between-programme variance on the analysis scale \(Q-profile CI\)",
     "variantie tussen programma's op de analyseschaal (Q-profile-BI)"),
    (r"p-value of Cochran's Q = ([\d.]+) on (\d+) df", "p-waarde van Cochrans Q = {0} bij {1} vrijheidsgraden"),
    (r"percent of total variation due to differences between programmes",
     "percentage van de totale variatie dat komt door verschillen tussen programma's"),
    (r"only (\d+) programmes: moderator tests have low power and tau2 is imprecise",
     "slechts {0} programma's: toetsen op moderatoren hebben weinig onderscheidend vermogen en tau² is onnauwkeurig"),
    (r"absence of evidence of moderation is not evidence of its absence",
     "geen aanwijzing voor moderatie betekent niet dat er geen moderatie is"),
    (r"association between programme characteristics and effects \(ecological, not causal\)",
     "samenhang tussen programmakenmerken en effecten (ecologisch, niet causaal)"),
    (r"omnibus test of the moderators \(F on (\d+) and (\d+) df\)",
     "omnibustoets van de moderatoren (F bij {0} en {1} vrijheidsgraden)"),
    (r"omnibus test of the moderators \(chi2 on (\d+) df\)",
     "omnibustoets van de moderatoren (chi-kwadraat bij {0} vrijheidsgraden)"),
    (r"residual tau2 = ([\d.e+-]+), R2 = (\d+)%", "resterende tau² = {0}, R² = {1}%"),
    (r"excluded: (\S+) \(estimate or interval missing\)", "uitgesloten: {0} (schatting of interval ontbreekt)"),
    (r"(\S+) \(estimate or interval missing\)", "{0} (schatting of interval ontbreekt)"),
    (r"estimate or interval missing", "schatting of interval ontbreekt"),
    (r"fewer than (\d+) participants: indicative only", "minder dan {0} deelnemers: alleen indicatief"),
    (r"no comparison group: no programme effect to use", "geen vergelijkingsgroep: geen programma-effect te gebruiken"),
    (r"not shown: fewer than (\d+) people", "niet getoond: minder dan {0} personen"),
    (r"hazards may not be proportional: read the HR as an average over follow-up",
     "de hazards zijn mogelijk niet proportioneel: lees de HR als een gemiddelde over de follow-up"),
    (r"not estimable: negative_binomial_rate_ratio: no finite theta \(no overdispersion\?\)",
     "niet te schatten: het negatief-binomiale model vindt geen eindige theta (geen overdispersie?)"),
    (r"use a Poisson model", "gebruik een Poissonmodel"),
]

# what a notebook could not measure, and why (the reasons of evaluation.validation.supports)
MEASURES: dict[str, tuple[str, str]] = {
    "recidivism": ("Reoffending", "Recidive"),
    "volunteer_retention": ("Retention of volunteers", "Behoud van vrijwilligers"),
    "volunteer_support": ("Training and supervision of volunteers", "Training en begeleiding van vrijwilligers"),
    "match_duration": ("Duration of matches", "Duur van koppelingen"),
    "contacts": ("Contacts between volunteers and participants", "Contacten tussen vrijwilligers en deelnemers"),
    "rj_sessions": ("Restorative justice sessions", "Herstelgesprekken"),
    "costs": ("Costs", "Kosten"),
    "self_sufficiency": ("Self-sufficiency (ZRM)", "Zelfredzaamheid (ZRM)"),
    "personal_goals": ("Personal goals", "Persoonlijke doelen"),
    "circumstances": ("Work, housing and income", "Werk, huisvesting en inkomen"),
    "peer_mentor_outcomes": ("Outcomes of volunteers with lived experience",
                             "Uitkomsten van ervaringsdeskundige vrijwilligers"),
}
_NOT_MEASURED = {"en": "{what} not measured{where}: {reason}.", "nl": "{what} niet gemeten{where}: {reason}."}
_NOT_ESTIMABLE = ("not estimable: ", "niet te schatten: ")


def _reason_notes() -> list[tuple[str, str]]:
    """NOTES entries for every reason of :data:`evaluation.validation.supports.REASONS`, per table
    (literal patterns, so that a table keeps its file name in both languages)."""
    tables = sorted({t for needs in SUPPORT_MEASURES.values() for t in needs})
    out = []
    for en, nl in SUPPORT_REASONS.values():
        for t in tables if "{table}" in en else [""]:
            e, d = en.format(table=t), nl.format(table=t)
            out.append((re.escape(_NOT_ESTIMABLE[0] + e), _NOT_ESTIMABLE[1] + d))
            out.append((re.escape(e), d))
    return out


NOTES.extend(_reason_notes())
# a part "<covariate> (<reason>)" of the Cox fitter's warning (after the specific patterns)
NOTES.append((r"(\w+) \((monotone likelihood .+|singular information .+|covariate is constant|Newton-Raphson did not "
              r"converge|standard error zero .+)\)", "{0} ({1})"))


def not_measured_sentence(measure: str, reason_en: str, reason_nl: str, language: str = "nl",
                          programme_id: str | None = None) -> str:
    """One sentence saying what was not measured and why, e.g. "Retention of volunteers not measured:
    the intake has no volunteers table." (``reason_*`` from :mod:`evaluation.validation.supports`).

    ``programme_id``: named in the sentence ("... not measured for MENT-RDM: ...") when given.
    """
    lang = _check_language(language)
    what = _pick(MEASURES[measure], lang) if measure in MEASURES else str(measure)
    where = "" if not programme_id else (f" voor {programme_id}" if lang == "nl" else f" for {programme_id}")
    return _NOT_MEASURED[lang].format(what=what, where=where, reason=reason_nl if lang == "nl" else reason_en)


def not_measured_sentences(support: pd.DataFrame, measures: list[str] | tuple[str, ...], language: str = "nl",
                           programme_id: str = "all") -> list[str]:
    """Sentences for the unavailable ``measures`` of a :func:`evaluation.validation.supports.measure_support`
    table: for a single programme one sentence per measure; for ``"all"`` one per measure missing for
    all programmes together, else one per programme that lacks it."""
    out = []
    said: set[tuple[str, str]] = set()  # (programme, reason): a later measure with the same reason is not repeated
    sub = support.loc[~support["available"].astype(bool) & support["measure"].isin(list(measures))]
    for m in measures:
        rows = sub.loc[sub["measure"] == m]
        whole = rows.loc[rows["programme_id"] == programme_id]
        if len(whole):
            rows = whole
        elif programme_id != "all":
            continue
        for r in rows.itertuples(index=False):
            if (r.programme_id, r.reason_en) in said:
                continue
            said.add((r.programme_id, r.reason_en))
            where = None if r.programme_id == programme_id else r.programme_id
            out.append(not_measured_sentence(m, r.reason_en, r.reason_nl, language, programme_id=where))
    return out

# columns whose values are labelled, by kind
_VALUE_KIND: dict[str, str] = {
    "estimand": "estimand", "indicator": "estimand", "endpoint": "endpoint", "group": "group",
    "analysis": "analysis", "table": "code", "severity": "code", "role": "code", "effect_scale": "code",
    "excluded_reason": "note", "category": "code", "moderator": "code", "field": "code", "covariate": "code", "term": "code",
    "reference": "code", "target_source": "code", "unit": "code",
    "programme_id": "programme", "note": "note",
    "blocking": "bool", "required": "bool", "causal": "bool", "meets_target": "bool", "headline_eligible": "bool",
    "supported": "bool",
}
# estimates, limits and shares: always shown with decimals, even when whole (1,000 not 1)
_DECIMAL_COLUMNS = {"estimate", "ci_lower", "ci_upper", "p_value", "share_accepted", "share_filled", "target",
                    "observed", "annual_turnover"}
_YES_NO = {"en": ("yes", "no"), "nl": ("ja", "nee")}


_check_language = check_language


@functools.lru_cache(maxsize=1)
def contract_words() -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    """Words the data contract itself gives, in both languages: field titles (``title``/``title_nl``
    of every table field and of every programmes.yaml property) and code labels (``codes`` with
    ``label_en``/``label_nl``). The fallback of :func:`column_label` and :func:`code_label`, so that a
    field or code the labels here do not list is still shown in words (issue 18, item 3)."""
    contract = load_contract()
    fields: dict[str, tuple[str, str]] = {}
    codes: dict[str, tuple[str, str]] = {}
    for res in contract.package.get("resources", []):
        for f in res.get("schema", {}).get("fields", []):
            if f.get("title") and f.get("title_nl"):
                fields.setdefault(f["name"], (f["title"], f["title_nl"]))
            for c in f.get("codes", []) or []:
                if c.get("label_en") and c.get("label_nl"):
                    codes.setdefault(str(c["value"]), (c["label_en"], c["label_nl"]))
    stack = [contract.programme_schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for name, sub in (node.get("properties") or {}).items():
                if isinstance(sub, dict) and sub.get("title") and sub.get("title_nl"):
                    fields.setdefault(name, (sub["title"], sub["title_nl"]))
            stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, (dict, list)))
    return fields, codes


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def column_label(column: str, language: str = "nl") -> str:
    """Header for a table column: :data:`COLUMNS`, else the contract's field title or code label,
    else the column name itself."""
    pair = COLUMNS.get(str(column))
    if pair:
        return _pick(pair, language)
    fields, codes = contract_words()
    pair = fields.get(str(column)) or codes.get(str(column)) or ESTIMANDS.get(str(column))
    return _pick(pair, language) if pair else str(column)


def analysis_label(analysis: str, language: str = "nl") -> str:
    """Words for an analysis name (``data_quality``, ``retention``, ...); the name when unknown."""
    pair = ANALYSES.get(str(analysis))
    return _pick(pair, language) if pair else str(analysis)


def code_label(code: str, language: str = "nl") -> str:
    """Words for a contract code, table name or covariate: :data:`CODES`, else the contract's code
    label or field title (lower-cased as a value), else the code itself."""
    pair = CODES.get(str(code))
    if pair:
        return _pick(pair, language)
    fields, codes = contract_words()
    if str(code) in codes:
        return _pick(codes[str(code)], language)
    if str(code) in fields:
        return _lower_first(_pick(fields[str(code)], language))
    return str(code)


def value_label(value: str, language: str = "nl") -> str:
    """Words for a group or subgroup value shown in a table.

    Tries, in order: the result groups (:data:`GROUPS`), the codes
    (:data:`CODES`), subgroup labels ``key=value`` and categorical covariates
    ``key[value]`` (key from :data:`SUBGROUP_KEYS`, value from :data:`CODES`).
    Anything else is returned unchanged.
    """
    name = str(value)
    if "; " in name:  # a group of several parts, e.g. "quarter=2020Q1; coordination_staff"
        return "; ".join(value_label(part, language) for part in name.split("; "))
    if name.startswith("subgroup "):  # "subgroup risk_level=high"
        return f"{'subgroup' if language == 'en' else 'subgroep'} {value_label(name[9:], language)}"
    if " vs " in name:  # a moderator contrast "vision_focus[mixed] vs risk_management"
        a, b = name.split(" vs ", 1)
        return f"{value_label(a, language)} {'vs' if language == 'en' else 't.o.v.'} {value_label(b, language)}"
    if name in GROUPS:
        return group_label(name, language)
    if name in CODES or name in contract_words()[1] or name in contract_words()[0]:
        return code_label(name, language)
    m = re.fullmatch(r"([a-z_]+)=(.+)", name) or re.fullmatch(r"([a-z_]+)\[(.+)\]", name)
    if m and m.group(1) in SUBGROUP_KEYS:
        return f"{_pick(SUBGROUP_KEYS[m.group(1)], language)}: {code_label(m.group(2), language)}"
    if m and m.group(1) in contract_words()[0]:
        return f"{code_label(m.group(1), language)}: {code_label(m.group(2), language)}"
    return name


def note_label(note: str, language: str = "nl") -> str:
    """A note in the report's language.

    Notes are written in English by the analyses, as parts separated by
    ``"; "``. In Dutch each part matching a pattern of :data:`NOTES` is
    replaced by its Dutch wording; other parts stay as written. English
    returns the note unchanged.
    """
    text = "" if note is None else str(note)
    if _check_language(language) == "en" or not text:
        return text
    out = []
    for part in text.split("; "):
        for pattern, dutch in NOTES:
            m = re.fullmatch(pattern, part)
            if m:
                args = [_note_argument(a, language) for a in m.groups()]
                part = dutch.format(*args)
                break
        out.append(part)
    return name_words("; ".join(out), language)


_MACHINE_NAME = re.compile(r"\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?:\[([^\]\[]+)\])?")


def name_words(text: str, language: str = "nl") -> str:
    """``text`` with the contract's machine names in words: a field or code such as ``risk_level`` or
    a model term such as ``risk_level[low]`` becomes "risiconiveau: laag" / "risk level: low". Names
    the contract and these labels do not know are left as they are."""
    def repl(m: re.Match) -> str:
        token = m.group(0)
        word = value_label(token, language)
        if word == token and m.group(2) is None:
            word = code_label(token, language)
        return word if word != token else token
    return _MACHINE_NAME.sub(repl, str(text))


def warning_line(message: str, language: str = "nl") -> str:
    """A warning for a report: ``Warning: ...`` / ``Waarschuwing: ...``, the message through
    :func:`note_label` (known English warnings get their Dutch wording)."""
    word = "Warning" if _check_language(language) == "en" else "Waarschuwing"
    return f"{word}: {note_label(message, language)}"


def _note_argument(arg: str, language: str) -> str:
    """A number, analysis name or list of codes captured from a note, in the report's language."""
    if m := re.fullmatch(r"fewer than (\d+)", arg):
        return f"minder dan {m.group(1)}" if language == "nl" else arg
    if re.fullmatch(r"\d+\.\d+", arg):
        return arg.replace(".", ",") if language == "nl" else arg
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", arg):  # an amount with thousands separators: EUR 12,000
        return arg.replace(",", ".") if language == "nl" else arg
    if arg in ANALYSES:
        return analysis_label(arg, language)
    if arg in SUBGROUP_KEYS:
        return _pick(SUBGROUP_KEYS[arg], language)
    items = [x.strip().strip("'") for x in arg.split(",")]
    if all(x in CODES for x in items):
        return ", ".join(code_label(x, language) for x in items)
    if language == "nl":  # a reason of the Cox fitter without its "not estimable: " prefix (fixed wordings only)
        for pattern, dutch in NOTES:
            m = re.fullmatch(pattern, _NOT_ESTIMABLE[0] + arg)
            if m and not m.groups() and dutch.startswith(_NOT_ESTIMABLE[1]):
                return dutch[len(_NOT_ESTIMABLE[1]):]
    return arg


def _value(kind: str, value: object, language: str) -> object:
    if value is None or (isinstance(value, float) and value != value):
        return value
    if kind == "bool":
        if isinstance(value, (bool, np.bool_)):
            return _YES_NO[language][0] if value else _YES_NO[language][1]
        return value
    if not isinstance(value, str):
        return value
    if kind == "estimand":
        return estimand_label(value, language)
    if kind == "endpoint":
        return endpoint_label(value, language) if value else value
    if kind == "group":
        return value_label(value, language)
    if kind == "analysis":
        return analysis_label(value, language)
    if kind == "code":
        return value_label(value, language)
    if kind == "programme":
        return group_label(value, language) if value == "all" else value
    if kind == "note":
        return note_label(value, language)
    return value


def _format_numbers(values: pd.Series, language: str, digits: int, whole: bool = True) -> pd.Series:
    """Floats as text: ``digits`` decimals, decimal comma in Dutch, blank for NaN.

    With ``whole`` a column whose values are all whole numbers (counts stored
    as floats) is shown without decimals.
    """
    finite = values[np.isfinite(values)]
    whole = whole and bool(len(finite)) and bool((finite == finite.round()).all())

    return values.map(lambda x: number(x, language, 0 if whole else digits, thousands=False)).astype(object)


def _degenerate_ratios(df: pd.DataFrame) -> np.ndarray:
    """Rows of a hazard or rate ratio whose estimate or interval must not be shown as numbers
    (:func:`evaluation.publish.formatting.ratio_shown`)."""
    if "estimand" not in df.columns or "estimate" not in df.columns:
        return np.zeros(len(df), dtype=bool)
    lo = df["ci_lower"] if "ci_lower" in df.columns else pd.Series(np.nan, index=df.index)
    hi = df["ci_upper"] if "ci_upper" in df.columns else pd.Series(np.nan, index=df.index)
    return np.array([not ratio_shown(e, x, a, b) for e, x, a, b in zip(df["estimand"], df["estimate"], lo, hi,
                                                                          strict=True)], dtype=bool)


def display_table(df: pd.DataFrame, language: str = "nl", digits: int | None = 3) -> pd.DataFrame:
    """A copy of a results or notebook table for a reader, in Dutch or English.

    Display only: the files written for researchers keep the machine names
    (``RESULT_COLUMNS``). The input frame is not modified.

    - headers: known columns (:data:`COLUMNS`) get words; unknown columns
      keep their name;
    - values: measures (``estimand``, ``indicator``), outcomes
      (``endpoint``), groups, analyses, table names and contract codes get
      words (:func:`estimand_label`, :func:`endpoint_label`,
      :func:`value_label`, ...); notes are translated part by part
      (:func:`note_label`); true/false become yes/no (ja/nee). Unknown values
      are shown as they are;
    - numbers: floating-point columns become text with ``digits`` decimals
      (counts stored as floats without decimals), a decimal comma
      in Dutch and a blank for a missing value (``digits=None``: numbers are
      left as they are). Missing values in text columns are shown blank;
      suppressed cells (e.g. ``"<10"``) stay as shown. A hazard or rate ratio
      whose estimate or interval is 0, infinite or degenerate shows "not
      estimable" ("niet te schatten") and no interval.

    Parameters
    ----------
    df : DataFrame
        Any table; typically a results table or a notebook table.
    language : {"nl", "en"}
    digits : int or None

    Returns
    -------
    DataFrame
        Same rows and order, relabelled columns and values.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"display_table expects a pandas DataFrame, got {type(df).__name__}")
    _check_language(language)
    out = df.copy()
    hidden = _degenerate_ratios(out)
    for col in out.columns:
        kind = _VALUE_KIND.get(str(col))
        if kind is not None:
            out[col] = out[col].map(lambda v, k=kind: _value(k, v, language))
        elif digits is not None and pd.api.types.is_float_dtype(out[col]):
            out[col] = _format_numbers(out[col], language, digits, whole=str(col) not in _DECIMAL_COLUMNS)
        elif out[col].dtype == object and (str(col) in contract_words()[0] or str(col) in SUBGROUP_KEYS):
            # a contract field or moderator as a column (e.g. vision_focus): its codes in words
            out[col] = out[col].map(lambda v: value_label(v, language) if isinstance(v, str) else v)
        if out[col].dtype == object:
            out[col] = out[col].where(out[col].notna(), "")
    if hidden.any():  # a degenerate ratio is shown as "not estimable", never as 0.00 or ∞
        for col in ("estimate", "ci_lower", "ci_upper"):
            if col in out.columns:
                out[col] = out[col].astype(object)
                out.loc[hidden, col] = NOT_ESTIMABLE_TEXT[language] if col == "estimate" else ""
    out.columns = [column_label(c, language) for c in out.columns]
    return out


def html_table(df: pd.DataFrame, language: str = "nl", digits: int | None = 3) -> Styler:
    """:func:`display_table` as a pandas Styler for a notebook, without the index.

    Every cell and every header is HTML-escaped: values and column names a data supplier controls
    (unknown column headers, codes, programme ids, fidelity target keys) are shown as text, never
    rendered as HTML, in the notebook and in the report rendered from it.
    """
    shown = display_table(df, language, digits)
    return shown.style.format(escape="html").format_index(escape="html", axis=1).hide(axis="index")
