"""RFC 8785 canonical JSON: the RFC's own examples, byte for byte, and the values it refuses."""

import json
import math
import struct

import pytest

from server.audit import NotCanonicalError, canonical_bytes, canonical_json, format_number

# RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical text.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


def double(bits: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(bits))[0]
    return value


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B)
def test_numbers_match_appendix_b(bits: str, expected: str) -> None:
    assert canonical_json(double(bits)) == expected


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_nan_and_infinity_from_appendix_b_are_refused(bits: str) -> None:
    assert not math.isfinite(double(bits))
    with pytest.raises(NotCanonicalError) as caught:
        canonical_json({"x": double(bits)})
    assert caught.value.code == "internal_error"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5.0, "5"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (-0.0, "0"),
        (0.1, "0.1"),
        (1.5e-7, "1.5e-7"),
        (123e-9, "1.23e-7"),
        (0.000001, "0.000001"),
        (42, "42"),
        (-7, "-7"),
        (2**53, "9007199254740992"),
        (2**60, "1152921504606847000"),  # exactly a double: ECMAScript's shortest digits
        (10**21, "1e+21"),
    ],
)
def test_numbers_use_ecmascript_formatting(value: float, expected: str) -> None:
    assert format_number(value) == expected


# RFC 8785 section 3.2.2: the sample input, as JSON text.
RFC_SAMPLE = r"""{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"""
# Section 3.2.4: its canonical form in UTF-8.
RFC_SAMPLE_BYTES = """
7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72
75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a
5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31
65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37
5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30
30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d
"""


def test_the_rfc_sample_becomes_the_rfc_bytes() -> None:
    value = json.loads(RFC_SAMPLE)
    assert canonical_bytes(value) == bytes.fromhex(RFC_SAMPLE_BYTES)
    assert canonical_json(value) == (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )


def test_keys_sort_by_utf16_code_units() -> None:
    # RFC 8785 section 3.2.3: the emoji (a surrogate pair, 0xD83D...) sorts before U+FB33.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )
    assert canonical_json(value) == expected


def test_nested_values_are_sorted_and_have_no_whitespace() -> None:
    value = {"b": [1, {"z": None, "a": "\u2028\x7f\x1f"}], "a": {}}
    assert canonical_json(value) == '{"a":{},"b":[1,{"a":"\u2028\x7f\\u001f","z":null}]}'


@pytest.mark.parametrize(
    "value",
    [
        {1: "int key"},
        {"when": object()},
        {"bytes": b"x"},
        {"set": {1}},
        "\ud800",  # a lone surrogate has no UTF-8 form
        2**53 + 1,  # no double holds it
        10**400,
        float("nan"),
    ],
)
def test_non_json_values_are_refused(value: object) -> None:
    with pytest.raises(NotCanonicalError):
        canonical_json(value)
