"""Check digits of German identifiers that python-stdnum does not cover.

Each function takes the identifier without spaces and says whether its check digit fits.
python-stdnum covers the others (IBAN, BIC, Steuer-ID, Steuernummer, VAT IDs, Luhn).
"""

from __future__ import annotations

import re

_RVNR = re.compile(r"\d{8}[A-Z]\d{3}")
_KVNR = re.compile(r"[A-Z]\d{9}")
_ICAO_VALUES = {
    **{str(d): d for d in range(10)},
    **{chr(ord("A") + i): 10 + i for i in range(26)},
    "<": 0,
}


def _digit_sum(number: int) -> int:
    return number // 10 + number % 10


def is_rvnr(value: str) -> bool:
    """German pension insurance number (Rentenversicherungs- or Sozialversicherungsnummer):
    area (2), date of birth DDMMYY (6), initial of the birth name, serial (2), check digit.

    The letter counts as its two-digit position in the alphabet; the twelve digits are
    weighted 2,1,2,5,7,1,2,1,2,1,2,1 and the digit sums of the products add up, modulo 10.
    """
    if not _RVNR.fullmatch(value):
        return False
    day, month = int(value[2:4]), int(value[4:6])
    if not (1 <= day % 50 <= 31 and 1 <= month <= 12):  # +50: a second number, same date
        return False
    letter = ord(value[8]) - ord("A") + 1
    digits = [int(c) for c in value[:8]] + [letter // 10, letter % 10]
    digits += [int(c) for c in value[9:11]]
    weights = (2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1)
    total = sum(_digit_sum(d * w) for d, w in zip(digits, weights, strict=True))
    return total % 10 == int(value[11])


def is_kvnr(value: str) -> bool:
    """German health insurance number (Krankenversichertennummer, the unchangeable part):
    a letter, eight digits, a check digit.

    The letter counts as its two-digit position in the alphabet; with the eight digits that
    gives ten, weighted 1,2,1,2,...; the digit sums of the products add up, modulo 10.
    """
    if not _KVNR.fullmatch(value):
        return False
    letter = ord(value[0]) - ord("A") + 1
    digits = [letter // 10, letter % 10] + [int(c) for c in value[1:9]]
    total = sum(_digit_sum(d * (1 if i % 2 == 0 else 2)) for i, d in enumerate(digits))
    return total % 10 == int(value[9])


def icao_check_digit(value: str) -> int:
    """The check digit of ICAO 9303 (passports, identity cards): weights 7, 3, 1."""
    weights = (7, 3, 1)
    return sum(_ICAO_VALUES[c] * weights[i % 3] for i, c in enumerate(value)) % 10


def is_icao_number(value: str) -> bool:
    """A document number followed by its ICAO check digit (a German ID card: 9 + 1)."""
    if len(value) < 2 or not value[-1].isdigit() or any(c not in _ICAO_VALUES for c in value):
        return False
    return icao_check_digit(value[:-1]) == int(value[-1])
