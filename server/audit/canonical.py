"""RFC 8785 (JCS): one byte string for every JSON value, so that a hash over it is stable."""

import json
import math

from server.audit.errors import NotCanonicalError

_PLAIN_DIGITS = 21  # ECMAScript writes |x| < 1e21 without an exponent


def canonical_json(value: object) -> str:
    """The RFC 8785 text of ``value`` (dict with str keys, list, tuple, str, int, float, bool, None).

    Raises:
        NotCanonicalError: (internal_error) NaN, Infinity, an int no double holds exactly, a lone
            surrogate, a non-str key or any other type.
    """
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts)


def canonical_bytes(value: object) -> bytes:
    """``canonical_json(value)`` in UTF-8, the form that gets hashed."""
    return canonical_json(value).encode("utf-8")


def _encode(value: object, parts: list[str]) -> None:
    if value is None or isinstance(value, bool):
        parts.append({None: "null", True: "true", False: "false"}[value])
    elif isinstance(value, int | float):
        parts.append(format_number(value))
    elif isinstance(value, str):
        parts.append(_string(value))
    elif isinstance(value, list | tuple):
        _array(value, parts)
    elif isinstance(value, dict):
        _object(value, parts)
    else:
        raise NotCanonicalError(f"{type(value).__name__} is not a JSON type")


def _array(values: list[object] | tuple[object, ...], parts: list[str]) -> None:
    parts.append("[")
    for index, item in enumerate(values):
        if index:
            parts.append(",")
        _encode(item, parts)
    parts.append("]")


def _object(members: dict[object, object], parts: list[str]) -> None:
    keys = [_key(key) for key in members]
    parts.append("{")
    # Sorted by UTF-16 code units: big-endian UTF-16 bytes compare in the same order.
    for index, key in enumerate(sorted(keys, key=_utf16)):
        if index:
            parts.append(",")
        parts.append(_string(key))
        parts.append(":")
        _encode(members[key], parts)
    parts.append("}")


def _key(key: object) -> str:
    if not isinstance(key, str):
        raise NotCanonicalError(f"object key of type {type(key).__name__}")
    return key


def _utf16(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _string(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NotCanonicalError("lone surrogate in a string") from exc
    # The same escapes as ECMAScript's JSON.stringify: \" \\ \b \f \n \r \t, other controls as
    # \u00xx (lowercase hex), everything else literal.
    return json.dumps(value, ensure_ascii=False)


def format_number(value: int | float) -> str:
    """A number as ECMAScript's ``Number.prototype.toString`` writes it (RFC 8785 section 3.2.2.3).

    Raises:
        NotCanonicalError: (internal_error) NaN, Infinity, or an int no IEEE 754 double holds.
    """
    number = _as_double(value)
    if number == 0:
        return "0"  # and -0
    sign = "-" if number < 0 else ""
    digits, point = _shortest_digits(abs(number))
    return sign + _layout(digits, point)


def _as_double(value: int | float) -> float:
    try:
        number = float(value)
    except OverflowError as exc:
        raise NotCanonicalError("integer beyond the range of a double") from exc
    if not math.isfinite(number):
        raise NotCanonicalError("NaN and Infinity have no JSON form")
    if isinstance(value, int) and int(number) != value:
        raise NotCanonicalError("integer a double cannot hold exactly")
    return number


def _shortest_digits(number: float) -> tuple[str, int]:
    """The shortest digits that read back as ``number`` and n with number = 0.digits * 10**n.

    ``repr`` gives the shortest round-trip digits (nearest, ties even), as ECMAScript requires.
    """
    mantissa, _, exponent = repr(number).partition("e")
    whole, _, fraction = mantissa.partition(".")
    all_digits = whole + fraction
    significant = all_digits.lstrip("0")
    leading_zeros = len(all_digits) - len(significant)
    point = len(whole) + int(exponent or "0") - leading_zeros
    return significant.rstrip("0"), point


def _layout(digits: str, point: int) -> str:
    k = len(digits)
    if k <= point <= _PLAIN_DIGITS:
        return digits + "0" * (point - k)
    if 0 < point <= _PLAIN_DIGITS:
        return digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return "0." + "0" * -point + digits
    exponent = point - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent)}"
