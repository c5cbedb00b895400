"""Assessment instruments: the ZRM versions in the contract and custom ones in ``extract.yaml``.

The contract lists the instruments an intake may use without declaring them
(``datapackage.json``, ``x_instruments``: the Self-Sufficiency Matrix (ZRM) of
2010 with 11 domains and of 2017 with 13, scored 1..5); any other instrument in
the optional ``assessments`` table must be declared in ``extract.yaml``
(``instruments``). The validator, the analysis datasets and the generator all
read the instruments through :func:`instrument_specs`, so a score accepted by
one is read alike by the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evaluation.contract.schema import Contract, load_contract


@dataclass(frozen=True)
class Instrument:
    """One assessment instrument: domains, score range and the 'sufficient' threshold."""

    name: str
    domains: tuple[str, ...]
    score_min: int
    score_max: int
    sufficient_from: int
    builtin: bool = False


def builtin_instruments(contract: Contract | None = None) -> dict[str, Instrument]:
    """The instruments of the contract (``x_instruments``), by name."""
    c = contract or load_contract()
    out = {}
    for spec in c.package.get("x_instruments", {}).get("instruments", []):
        out[spec["name"]] = Instrument(
            spec["name"], tuple(d["value"] for d in spec["domains"]), int(spec["score_min"]),
            int(spec["score_max"]), int(spec["sufficient_from"]), builtin=True,
        )
    return out


def instrument_specs(extract: Mapping[str, Any] | None = None, contract: Contract | None = None) -> dict[str, Instrument]:
    """Every instrument an intake may use: the contract's plus those declared in ``extract.yaml``.

    Parameters
    ----------
    extract : mapping, optional
        Content of ``extract.yaml``; its ``instruments`` list declares custom
        instruments (name, domains, score_min, score_max, sufficient_from,
        higher_is_better).

    Raises
    ------
    ValueError
        A declaration reuses a contract instrument's name, has an empty or
        reversed score range, a threshold outside the range, or
        ``higher_is_better`` other than true.
    """
    out = builtin_instruments(contract)
    for spec in (extract or {}).get("instruments", []) or []:
        name = str(spec.get("name"))
        if name in out:
            raise ValueError(f"extract.yaml: instrument {name!r} is already defined "
                             f"({'by the contract' if out[name].builtin else 'twice'}); choose another name")
        try:
            lo, hi, suff = int(spec["score_min"]), int(spec["score_max"]), int(spec["sufficient_from"])
            domains = tuple(str(d) for d in spec["domains"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"extract.yaml: instrument {name!r} needs domains, score_min, score_max and "
                             f"sufficient_from ({exc})") from exc
        if not lo < hi or not lo <= suff <= hi:
            raise ValueError(f"extract.yaml: instrument {name!r} needs score_min < score_max and sufficient_from "
                             f"within them (got {lo}, {hi}, {suff})")
        if spec.get("higher_is_better", True) is not True:
            raise ValueError(f"extract.yaml: instrument {name!r}: higher_is_better must be true "
                             "(reverse the scale before delivery)")
        if not domains:
            raise ValueError(f"extract.yaml: instrument {name!r} declares no domains")
        out[name] = Instrument(name, domains, lo, hi, suff)
    return out


def domain_label(instrument: str, domain: str, language: str = "nl", contract: Contract | None = None) -> str:
    """Label of a contract instrument's domain in ``language`` (the code itself if unknown)."""
    c = contract or load_contract()
    for spec in c.package.get("x_instruments", {}).get("instruments", []):
        if spec["name"] == instrument:
            for d in spec["domains"]:
                if d["value"] == domain:
                    return d["label_nl" if language == "nl" else "label_en"]
    return str(domain)
