"""Readable labels for machine names in results (report step only).

Results keep fixed machine names (``estimand``, ``endpoint``, ``group``);
the report turns them into words a policy reader understands, in Dutch or
English. Unknown names fall back to the machine name, so a new estimand
never breaks a report; it only looks technical until labelled here.
"""

from __future__ import annotations

import re

# exact estimand names: (English, Dutch)
ESTIMANDS: dict[str, tuple[str, str]] = {
    "hazard_ratio": ("hazard ratio (programme vs comparison)", "hazard ratio (programma t.o.v. vergelijking)"),
    "hazard_ratio_adjusted": ("hazard ratio, adjusted for intake characteristics", "hazard ratio, gecorrigeerd voor kenmerken bij instroom"),
    "hazard_ratio_landmark": ("hazard ratio, landmark analysis", "hazard ratio, landmarkanalyse"),
    "rate_ratio": ("ratio of new cases per year at risk", "verhouding nieuwe zaken per jaar at risk"),
    "cases_per_person_year": ("new cases per person-year at risk", "nieuwe zaken per persoonsjaar at risk"),
    "e_value": ("E-value (strength of unmeasured confounding needed to explain the effect away)", "E-waarde (sterkte van ongemeten confounding die het effect zou verklaren)"),
    "ph_test": ("test of proportional hazards (p)", "toets op proportionele hazards (p)"),
    "gray_test": ("Gray's test, cumulative incidence (p)", "toets van Gray, cumulatieve incidentie (p)"),
    "interaction_test": ("subgroup interaction test (p)", "interactietoets subgroep (p)"),
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

# families: regex -> (English, Dutch) templates with the captured number as {n}
FAMILIES: list[tuple[str, tuple[str, str]]] = [
    (r"prevalence_(\d+)d_crude", ("reoffended within {n} days (people with full follow-up)", "recidive binnen {n} dagen (personen met volledige follow-up)")),
    (r"prevalence_(\d+)d_km", ("reoffended within {n} days (Kaplan-Meier)", "recidive binnen {n} dagen (Kaplan-Meier)")),
    (r"cumulative_incidence_(\d+)d", ("reoffended within {n} days, death and emigration as competing events", "recidive binnen {n} dagen, overlijden en emigratie als concurrerende gebeurtenis")),
    (r"rmst_(\d+)d", ("mean days free of reoffending in the first {n} days", "gemiddeld aantal dagen zonder recidive in de eerste {n} dagen")),
    (r"retention_(\d+)m", ("still active after {n} months", "na {n} maanden nog actief")),
    (r"cuminc_(\d+)m", ("ended within {n} months (cumulative incidence)", "binnen {n} maanden beëindigd (cumulatieve incidentie)")),
    (r"no_early_end_(\d+)m", ("no early ending within {n} months", "geen voortijdig einde binnen {n} maanden")),
]

SUFFIXES: list[tuple[str, tuple[str, str]]] = [
    ("_moderator_test", ("{base}: moderator test (p)", "{base}: toets op moderator (p)")),
    ("_moderator_ratio", ("{base}: ratio between moderator levels", "{base}: verhouding tussen moderatorgroepen")),
    ("_moderator_difference", ("{base}: difference between moderator levels", "{base}: verschil tussen moderatorgroepen")),
    ("_prediction_interval", ("{base}: prediction interval for a new programme", "{base}: voorspellingsinterval voor een nieuw programma")),
    ("_tau2", ("{base}: between-programme variance (tau²)", "{base}: variantie tussen programma's (tau²)")),
    ("_I2", ("{base}: heterogeneity (I²)", "{base}: heterogeniteit (I²)")),
]

ENDPOINTS: dict[str, tuple[str, str]] = {
    "GENERAL": ("general reoffending", "algemene recidive"),
    "SERIOUS": ("serious reoffending", "ernstige recidive"),
    "VERY_SERIOUS": ("very serious reoffending", "zeer ernstige recidive"),
    "SPECIAL": ("special (same-type) reoffending", "speciale recidive"),
    "CUSTODIAL": ("reoffending leading to custody", "recidive met vrijheidsstraf"),
    "DROPOUT": ("programme dropout", "voortijdig stoppen met het programma"),
    "VOLUNTEER_STOP": ("volunteers stopping", "vrijwilligers die stoppen"),
}

GROUPS: dict[str, tuple[str, str]] = {
    "programme": ("participants", "deelnemers"),
    "comparison": ("comparison group", "vergelijkingsgroep"),
    "difference": ("difference (programme minus comparison)", "verschil (programma min vergelijking)"),
    "all": ("all", "alle"),
}


def _pick(pair: tuple[str, str], language: str) -> str:
    return pair[1] if language == "nl" else pair[0]


def estimand_label(estimand: str, language: str = "nl") -> str:
    """Words for an estimand; the machine name when it is not labelled."""
    name = str(estimand)
    if name in ESTIMANDS:
        return _pick(ESTIMANDS[name], language)
    for suffix, pair in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            base = estimand_label(name[: -len(suffix)], language)
            return _pick(pair, language).format(base=base)
    for pattern, pair in FAMILIES:
        m = re.fullmatch(pattern, name)
        if m:
            return _pick(pair, language).format(n=m.group(1))
    return name


def endpoint_label(endpoint: str, language: str = "nl") -> str:
    """Words for an ADTTE endpoint code; the code itself when unknown."""
    pair = ENDPOINTS.get(str(endpoint))
    return _pick(pair, language) if pair else str(endpoint)


def group_label(group: str, language: str = "nl") -> str:
    """Words for a result group; unknown groups (subgroup labels) are shown as given."""
    pair = GROUPS.get(str(group))
    return _pick(pair, language) if pair else str(group)
