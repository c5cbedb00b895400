"""Statistical disclosure control: what the publishing step applies before anything leaves.

Every table, figure and sentence that leaves the package (the quarterly report, notebook outputs)
is written by :mod:`evaluation.publish.writer`, which applies these rules. Analyses always use the
full data; only what is *shown* is protected. This module gathers the public names of the modules
that implement the rules (docs/methods.md, section 'Disclosure control'):

:mod:`evaluation.publish.cells`
    Markers (``"<10"``, ``"c"``), the threshold check and :class:`DisclosureError`.
:mod:`evaluation.publish.suppression`
    :func:`protect_results` (primary suppression of results tables and blanking of estimates
    that would give a small count back) and numbers at risk under curves.
:mod:`evaluation.publish.pooled`
    :func:`withhold_pooled`: totals of all programmes that would give a programme's hidden count
    back by subtraction; :func:`differencing_audit` of a whole report.
:mod:`evaluation.publish.rounding`
    Controlled rounding of stock-flow tables (:func:`round_stock_flow`) and its audit.
:mod:`evaluation.publish.sentences`
    Counts of people in sentences (:func:`protect_sentence`, :func:`check_sentences`).
:mod:`evaluation.publish.identifiers`
    :func:`scan_outputs` of a report folder for identifiers and row-level data.

Rules
-----
Threshold
    :data:`evaluation.contract.results.SUPPRESSION_THRESHOLD` (10) is the smallest number of
    people a published count may describe.
Primary suppression
    A count of people ``c`` with ``0 < c < threshold`` is shown as ``"<10"``. Zero is shown as 0:
    a zero describes nobody. Where a zero would reveal something about identifiable people (e.g.
    "none of the 3 women reoffended"), the small denominator is itself suppressed.
Rates, percentages, estimates
    In results tables an estimate whose ``n`` is below the threshold is blanked (estimate, CI,
    p-value) and flagged; ``events`` with ``0 < events < threshold`` are shown as ``"<10"`` and
    the estimate is blanked too, and so is a difference whose group levels include a blanked one.
Totals of all programmes
    A total that, minus the programmes' own published rows, gives a small count back is withheld
    (secondary suppression, shown as ``"c"``).
Stock-flow tables
    Published after controlled rounding, never cell suppression (a suppressed flow is the
    difference of two published stocks).
Numbers at risk
    Under Kaplan-Meier plots, counts ``1..threshold-1`` become ``"<10"``; curves stop where fewer
    than ``threshold`` people remain at risk.
Sentences
    Headline numbers are formatted through :func:`protect_sentence`; :func:`check_sentences`
    refuses sentences such as "3 participants".
No row-level data
    The writer refuses tables with identifier columns; :func:`scan_outputs` searches a finished
    report folder for identifier values of the intake.

References
----------
Hundepool A, Domingo-Ferrer J, Franconi L, et al. (2012). *Statistical Disclosure Control*. Wiley.
"""

from __future__ import annotations

from evaluation.publish.cells import SECONDARY_MARKER, DisclosureError
from evaluation.publish.identifiers import (
    ID_KINDS,
    KIND_REASONS,
    assert_no_identifiers,
    collect_identifiers,
    describe_findings,
    scan_outputs,
)
from evaluation.publish.pooled import (
    LINE_KEYS,
    WITHHELD_NOTE,
    WITHHOLD_COLUMN,
    differencing_audit,
    withhold_pooled,
    withhold_pooled_table,
)
from evaluation.publish.rounding import STOCK_FLOW_COLUMNS, audit_rounding, round_stock_flow
from evaluation.publish.sentences import check_sentences, protect_count, protect_sentence
from evaluation.publish.suppression import (
    last_time_with_min_at_risk,
    protect_numbers_at_risk,
    protect_results,
)

__all__ = [
    "ID_KINDS", "KIND_REASONS", "LINE_KEYS", "SECONDARY_MARKER", "STOCK_FLOW_COLUMNS", "WITHHELD_NOTE", "WITHHOLD_COLUMN",
    "DisclosureError", "assert_no_identifiers", "audit_rounding", "check_sentences", "collect_identifiers",
    "describe_findings", "differencing_audit", "last_time_with_min_at_risk", "protect_count", "protect_numbers_at_risk",
    "protect_results", "protect_sentence", "round_stock_flow", "scan_outputs", "withhold_pooled",
    "withhold_pooled_table",
]
