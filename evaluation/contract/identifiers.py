"""Direct identifiers: the one check of a Dutch citizen service number (BSN) and of identifier column names.

A BSN has nine digits and passes the eleven-test: with weights 9, 8, 7, 6,
5, 4, 3, 2 and -1 for the digits ``d1 .. d9``, the weighted sum
``9*d1 + 8*d2 + ... + 2*d8 - d9`` is divisible by 11. ``000000000`` passes
the arithmetic but is no number and does not count. The validator (which
refuses a column of such values), the identifier scan of the publishing
step and the synthetic identifiers of the test data all use this one check
(docs/methods.md, section 'Disclosure control').
"""

from __future__ import annotations

import re

import numpy as np

BSN_WEIGHTS: tuple[int, ...] = (9, 8, 7, 6, 5, 4, 3, 2, -1)
"""Weights of the eleven-test, first digit to last."""


def is_bsn(s: str) -> bool:
    """True when ``s`` is exactly nine ASCII digits passing the eleven-test (and not all zero).

    Parameters
    ----------
    s : str
        The text, as it stands (surrounding spaces make it no BSN).

    Returns
    -------
    bool
    """
    if not isinstance(s, str) or len(s) != 9 or not (s.isascii() and s.isdigit()) or s == "000000000":
        return False
    return sum(int(d) * w for d, w in zip(s, BSN_WEIGHTS, strict=True)) % 11 == 0


def eleven_test(digits: np.ndarray) -> np.ndarray:
    """:func:`is_bsn` for many numbers at once, given as an ``(n, 9)`` array of digit values 0-9.

    Returns
    -------
    numpy.ndarray of bool
        True where the row passes the eleven-test and is not all zero.
    """
    d = np.asarray(digits, dtype=np.int64)
    if d.ndim != 2 or d.shape[1] != 9:
        raise ValueError(f"eleven_test: digits must have shape (n, 9), got {d.shape}")
    return ((d @ np.array(BSN_WEIGHTS, dtype=np.int64)) % 11 == 0) & (d.sum(axis=1) > 0)


def normalise_column_name(name: str) -> str:
    """Lower-case and remove spaces, dots, dashes and underscores.

    Column names are compared with the contract's ``x_identifier_columns`` in
    this form (``"E-mail_adres"`` -> ``"emailadres"``), by the validator and
    by the pseudonymisation step alike.
    """
    return re.sub(r"[\s.\-_]", "", str(name)).lower()
