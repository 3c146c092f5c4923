"""Numbers on every path against Phoenix's canonicalizer: JSON number literals of every shape
(random bit patterns, subnormals, whole numbers as floats, the 1e21 and 1e-7 boundaries,
15/16/17 digits, exponent forms with e/E, signs and leading zeros) read from JSON text —
the core keeps a short literal's text and reads the rest with a parser crate — and the same
doubles given as Python floats. 0 mismatches."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from phoenix.utilities.content_hashing import compute_example_content_hash
from phoenix.vendor.json_canonicalization_scheme import canonicalize as phoenix_canonicalize

import phoenix_upsert as pu

from ..conftest import examples


def notations(rnd: random.Random, digits: str, point: int, negative: bool) -> str:
    """A JSON literal of the decimal 0.<digits> x 10^point, in a random notation: fixed,
    or an exponent (e/E, with or without a sign, leading zeros) after a point put anywhere,
    with leading and trailing zeros added where JSON allows them."""
    sign = "-" if negative else ""
    if rnd.random() < 0.5:
        # Fixed: 0.000ddd, ddd.ddd or ddd000.0
        if point <= 0:
            text = "0." + "0" * -point + digits
        elif point >= len(digits):
            text = digits + "0" * (point - len(digits))
            if rnd.random() < 0.7:
                text += "." + "0" * rnd.randint(1, 3)
        else:
            text = digits[:point] + "." + digits[point:]
        if "." in text and rnd.random() < 0.3:
            text += "0" * rnd.randint(1, 4)
        if not ("." in text or len(text) > 300):
            text += ".0"
        return sign + text
    # Exponent: the point after `at` digits (0: "0.ddd"), and the exponent to match.
    at = rnd.randint(0, min(len(digits), 4))
    mantissa = (
        ("0." + digits)
        if at == 0
        else digits[:at] + ("." + digits[at:] if at < len(digits) else "")
    )
    if rnd.random() < 0.2 and "." in mantissa:
        mantissa += "0" * rnd.randint(1, 3)
    exp = point - at
    e = rnd.choice("eE")
    e_sign = "-" if exp < 0 else rnd.choice(["", "+"])
    zeros = "0" * rnd.choice([0, 0, 0, 1, 2])
    return f"{sign}{mantissa}{e}{e_sign}{zeros}{abs(exp)}"


def shortest(f: float) -> tuple[str, int]:
    """The shortest digits of a double and its point position (0.<digits> x 10^point)."""
    r = repr(abs(f))
    mantissa, _, exp = r.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    point = (
        len(whole)
        + (int(exp) if exp else 0)
        - (len(whole + frac) - len((whole + frac).lstrip("0")))
    )
    digits = digits.rstrip("0") or "0"
    return digits, point


def random_double(rnd: random.Random) -> float:
    kind = rnd.randrange(8)
    if kind == 0:  # any bit pattern
        while True:
            (f,) = struct.unpack("<d", rnd.getrandbits(64).to_bytes(8, "little"))
            if f == f and abs(f) != float("inf"):
                return f
    if kind == 1:  # subnormal
        (f,) = struct.unpack("<d", rnd.getrandbits(52).to_bytes(8, "little"))
        return f
    if kind == 2:  # a whole number
        return float(rnd.randint(-(10 ** rnd.randint(1, 25)), 10 ** rnd.randint(1, 25)))
    if kind == 3:  # near the 1e21 and 1e-7 boundaries
        return rnd.uniform(0.5, 20) * 10.0 ** rnd.choice([19, 20, 21, 22, -9, -8, -7, -6, -5])
    if kind == 4:  # what embeddings and scores look like
        return rnd.gauss(0, 0.1)
    if kind == 5:  # rounded to a few digits
        return round(rnd.uniform(-1000, 1000), rnd.randint(0, 6))
    return rnd.uniform(-1, 1) * 10.0 ** rnd.randint(-320, 308)


def random_literal(rnd: random.Random) -> str:
    kind = rnd.randrange(4)
    if kind == 0:  # a double's shortest digits (15 or fewer, or 16-17), in any notation
        f = random_double(rnd)
        if f == 0:
            return rnd.choice(["0.0", "-0.0", "0e5", "-0E-3", "0.000"])
        digits, point = shortest(f)
        return notations(rnd, digits, point, f < 0)
    if kind == 1:  # repr and other printf forms
        f = random_double(rnd)
        return rnd.choice(
            [repr(f), f"{f:.15g}", f"{f:.16g}", f"{f:.17g}", f"{f:.15e}", f"{f:.3e}"]
        ).replace("inf", "1e308")
    # Random digits: 1 to 22 of them (trailing zeros too), any exponent.
    n = rnd.randint(1, 22)
    digits = str(rnd.randint(1, 9)) + "".join(rnd.choice("0123456789") for _ in range(n - 1))
    point = rnd.choice([rnd.randint(-8, 23), rnd.randint(-330, 310)])
    return notations(rnd, digits, point, rnd.random() < 0.5)


def literal_ok(text: str) -> bool:
    """Whether Python reads the literal to a finite double (the core refuses the others)."""
    f = float(text)
    return f == f and abs(f) != float("inf")


LITERALS = [
    t for t in (random_literal(random.Random(i)) for i in range(examples(100_000))) if literal_ok(t)
]


def test_literals_in_json_text_equal_phoenix() -> None:
    # One array: the fast path reads every literal; the core writes each back.
    text = "[" + ",".join(LITERALS) + "]"
    ours = pu.canonicalize_json(text)
    theirs = phoenix_canonicalize(json.loads(text))
    if ours != theirs:
        for t in LITERALS:
            one = pu.canonicalize_json(t)
            assert one == phoenix_canonicalize(json.loads(t)), t
    assert ours == theirs


def test_literals_as_python_floats_equal_phoenix() -> None:
    values = [json.loads(t) for t in LITERALS]
    assert pu.canonicalize(values) == phoenix_canonicalize(values)


def test_literals_in_jsonl_hash_as_phoenix(tmp_path: Path) -> None:
    # The line reader's fast path (and, with an escape the fast path leaves, the serde path).
    chunks = [LITERALS[i : i + 50] for i in range(0, min(len(LITERALS), 20_000), 50)]
    path = tmp_path / "numbers.jsonl"
    lines = []
    for i, chunk in enumerate(chunks):
        extra = ', "s": "\\u0041\\/"' if i % 2 else ""
        lines.append(f'{{"input": {{"x": [{",".join(chunk)}]{extra}}}, "output": {{}}}}')
    path.write_text("\n".join(lines) + "\n")
    ours = pu.hash_jsonl(path)
    theirs = []
    for line in lines:
        e = json.loads(line)
        theirs.append(
            compute_example_content_hash(input=e["input"], output=e["output"], metadata={}).hex()
        )
    assert ours == theirs


@settings(max_examples=examples(2000), deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_random_literal_shapes(seed: int) -> None:
    text = random_literal(random.Random(seed))
    if literal_ok(text):
        assert pu.canonicalize_json(text) == phoenix_canonicalize(json.loads(text)), text
