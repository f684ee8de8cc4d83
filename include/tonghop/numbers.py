"""Reading numbers the way Vietnamese officials type them, and printing them back the same way."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation, localcontext

from babel.numbers import NumberFormatError, format_decimal, parse_decimal

_SPACES = re.compile(r"[\s\u00a0\u202f\u2009]+")
LOCALE = "vi_VN"


def parse_number_text(text: str) -> Decimal | None:
    """'1.234' → 1234, '15.555,25' → 15555.25, '1 234' → 1234; English '1,234.5' as a fallback.

    Returns None when the text is not a number (the caller reports it; it is never guessed).
    """
    cleaned = _SPACES.sub("", text.strip())
    if not cleaned:
        return None
    # babel rounds through the context: give it room for every digit typed (the text is bounded by the caller),
    # so 31 significant digits are read as typed (and judged by the decimals check), not an InvalidOperation.
    with localcontext(prec=max(28, len(cleaned) + 8)):
        for locale in (LOCALE, "en_US"):
            try:
                return +parse_decimal(cleaned, locale=locale, strict=True)
            except NumberFormatError:
                continue
            except (InvalidOperation, ValueError, OverflowError):
                return None
    return None


def decimal_from_float(value: float) -> Decimal:
    """An Excel double as the decimal Excel shows (15 significant digits): 0.1+0.2 → 0.3, 466.25 → 466.25."""
    return Decimal(format(value, ".15g"))


def decimal_places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def to_decimal(value: object) -> Decimal | None:
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def fmt(value: object, decimals: int | None = None) -> str:
    """A number in Vietnamese style (1.234.567,25) for messages and reports; '' for None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return str(value)
    if decimals is not None:
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return format_decimal(value, format=pattern, locale=LOCALE)
    return format_decimal(value, locale=LOCALE, decimal_quantization=False)
