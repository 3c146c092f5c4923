//! Numbers, in one place for every front end: how a double is written (ECMAScript's
//! `Number.prototype.toString`: the shortest round-trip digits from `zmij`, in ECMAScript's
//! notation), how the text of a JSON number literal is read (`fast-float2`), and when that
//! text can be kept instead.
//!
//! The rule that spares most numbers the round trip: a decimal of at most 15 significant
//! digits in the normal range of doubles is read to the double whose shortest round-trip
//! form has exactly those digits (15 digits survive decimal → double → decimal, so no
//! shorter decimal and no other one of the same length rounds to that double). Its
//! ECMAScript text is then a matter of notation only — where the point goes, or the
//! exponent form (`1e+21`, `1.5e-7`) when the decimal exponent is at least 21 or at most -7
//! — which [`ecmascript_text`] writes from the literal's digits. Python's `repr` and
//! JavaScript's `JSON.stringify` write such short numbers for most values that are not the
//! result of arithmetic (scores, temperatures, latencies, rounded values).
//!
//! Everything else (16 or 17 significant digits, zero, beyond the range) is read with
//! `fast-float2` (correctly rounded) and written with [`write_double`], which by the rule
//! above writes the same bytes: the two routes never disagree (the tests compare them over
//! random literals of every shape, and `tests/native` compares both with Phoenix's
//! canonicalizer).
//!
//! [`write_double`] takes the digits from `zmij` (the shortest round-trip digits, the
//! closest of them to the double: what ECMAScript asks for) and puts them in ECMAScript's
//! notation with the same [`write_notation`] as the kept literals. `zmij` does what `ryu-js`
//! does, several times faster (it was the largest cost of hashing embeddings); the tests
//! compare the two over random bit patterns.
//!
//! The serde reader ([`crate::json`], the fallback of the fast path) gets doubles from
//! serde_json (correctly rounded, `float_roundtrip`) and writes them with [`write_double`];
//! Python floats are doubles already. So the same number hashes the same on every path.

/// ECMAScript `Number.prototype.toString` of a finite double (`-0` is `0`).
#[inline]
pub fn write_double(out: &mut Vec<u8>, f: f64) {
    if f == 0.0 {
        out.push(b'0');
        return;
    }
    let mut shortest = zmij::Buffer::new();
    let text = shortest.format_finite(f).as_bytes();
    // zmij writes the digits `d.ddd` with an exponent `e+X` / `e-X` (as ECMAScript does)
    // when the first digit's exponent lies outside -5..=15, and fixed notation inside, an
    // integer with `.0`. ECMAScript writes fixed notation from -6 to 20.
    // The exponent, if any, is in the last five bytes (`e-324`).
    let tail = text.len().saturating_sub(5);
    match text[tail..]
        .iter()
        .position(|&b| b == b'e')
        .map(|at| tail + at)
    {
        None => out.extend_from_slice(text.strip_suffix(b".0").unwrap_or(text)),
        Some(at) => {
            let (negative, digits) = match &text[at + 1..] {
                [b'-', digits @ ..] => (true, digits),
                [b'+', digits @ ..] | digits => (false, digits),
            };
            let magnitude = digits
                .iter()
                .fold(0i32, |acc, &d| acc * 10 + i32::from(d - b'0'));
            if (negative && magnitude >= 7) || (!negative && magnitude >= 21) {
                out.extend_from_slice(text);
            } else {
                let mut buf = [0u8; TEXT_CAPACITY];
                let len = Literal::split(text)
                    .digits()
                    .map_or(0, |d| write_notation(d, &mut buf));
                out.extend_from_slice(&buf[..len]);
            }
        }
    }
}

/// The correctly rounded double of a JSON number literal (the text of one, already checked
/// against JSON's grammar); infinite beyond the range of doubles. `None` cannot happen for
/// such text.
#[inline]
pub fn parse_double(literal: &[u8]) -> Option<f64> {
    fast_float2::parse::<f64, _>(literal).ok()
}

/// The parts of a JSON number literal, as the scanner that checked its grammar found them.
pub(crate) struct Literal<'s> {
    pub negative: bool,
    /// The digits before the point.
    pub int: &'s [u8],
    /// The digits after the point (empty without a point).
    pub frac: &'s [u8],
    /// The exponent's digits (empty without an exponent), and whether it is negative.
    pub exp: &'s [u8],
    pub exp_negative: bool,
}

impl<'s> Literal<'s> {
    /// The parts of the text of a JSON number (checked against JSON's grammar already),
    /// or of a number `zmij` wrote.
    pub(crate) fn split(text: &'s [u8]) -> Self {
        let negative = text.first() == Some(&b'-');
        let body = &text[usize::from(negative)..];
        let int_len = body.iter().take_while(|d| d.is_ascii_digit()).count();
        let int = &body[..int_len];
        let mut rest = &body[int_len..];
        let mut frac: &[u8] = &[];
        if let Some((b'.', after)) = rest.split_first() {
            let len = after.iter().take_while(|d| d.is_ascii_digit()).count();
            frac = &after[..len];
            rest = &after[len..];
        }
        let mut exp: &[u8] = &[];
        let mut exp_negative = false;
        if let Some((b'e' | b'E', after)) = rest.split_first() {
            rest = after;
            if let Some((&sign @ (b'+' | b'-'), after)) = rest.split_first() {
                exp_negative = sign == b'-';
                rest = after;
            }
            exp = rest;
        }
        Literal {
            negative,
            int,
            frac,
            exp,
            exp_negative,
        }
    }

    /// The significant digits and where the point goes; `None` for zero, and for an
    /// exponent of more than four digits (far beyond the range of doubles).
    fn digits(&self) -> Option<Digits<'s>> {
        // int ++ frac without leading and trailing zeros.
        let lead_int = self.int.iter().take_while(|&&d| d == b'0').count();
        let trail_frac = self.frac.iter().rev().take_while(|&&d| d == b'0').count();
        let (int, frac, point) = if lead_int < self.int.len() {
            let point = (self.int.len() - lead_int) as i32;
            if trail_frac == self.frac.len() {
                // No significant digit after the point: the int's trailing zeros go too.
                let int = &self.int[lead_int..];
                let trail = int.iter().rev().take_while(|&&d| d == b'0').count();
                (&int[..int.len() - trail], &[][..], point)
            } else {
                let frac = &self.frac[..self.frac.len() - trail_frac];
                (&self.int[lead_int..], frac, point)
            }
        } else {
            let lead = self.frac.iter().take_while(|&&d| d == b'0').count();
            if lead == self.frac.len() {
                return None; // zero
            }
            let frac = &self.frac[lead..self.frac.len() - trail_frac];
            (&[][..], frac, -(lead as i32))
        };
        let exp_digits = &self.exp[self.exp.iter().take_while(|&&d| d == b'0').count()..];
        if exp_digits.len() > 4 {
            return None;
        }
        let exp = exp_digits
            .iter()
            .fold(0i32, |acc, &d| acc * 10 + i32::from(d - b'0'));
        Some(Digits {
            negative: self.negative,
            int,
            frac,
            n: point + if self.exp_negative { -exp } else { exp },
        })
    }
}

/// A decimal `±0.d₁d₂…dₖ × 10^n`: its digits `int ++ frac` (no leading or trailing zero).
struct Digits<'s> {
    negative: bool,
    int: &'s [u8],
    frac: &'s [u8],
    n: i32,
}

/// Most significant digits kept from the text (see the module documentation).
const MAX_DIGITS: usize = 15;
/// The decimal exponents `n` (the value is `0.d₁d₂… × 10^n`) whose text is kept: inside
/// the normal range of doubles (2.2e-308 to 1.8e308) with room to spare.
const MIN_N: i32 = -300;
const MAX_N: i32 = 307;
/// Below `10^18` every value is a storable number (see [`crate::storable`]).
const MAX_STORABLE_N: i32 = 18;
/// Longest text [`write_notation`] writes: a sign, `0.`, five zeros and 17 digits.
pub(crate) const TEXT_CAPACITY: usize = 32;

/// The ECMAScript text of the literal's double, written from its digits into `buf` (its
/// length returned), when the literal has at most 15 significant digits and lies in the
/// normal range (and, with `storable`, below 10^18 in magnitude); `None` for every other
/// literal, and for zero (whose sign the upload writer keeps): read those with
/// [`parse_double`].
pub(crate) fn ecmascript_text(
    lit: &Literal<'_>,
    storable: bool,
    buf: &mut [u8; TEXT_CAPACITY],
) -> Option<usize> {
    // The common case of a 16- or 17-digit double (`0.0123…` or `12.3…`, no trailing zero)
    // is decided without a look at every digit.
    if lit.frac.last().is_some_and(|&d| d != b'0') {
        let k = if lit.int == b"0" {
            lit.frac.len() - lit.frac.iter().take_while(|&&d| d == b'0').count()
        } else {
            lit.int.len() + lit.frac.len()
        };
        // (Too many only for an int with leading zeros, which JSON has not: then the
        // literal is merely parsed.)
        if k > MAX_DIGITS {
            return None;
        }
    }
    let digits = lit.digits()?;
    let max_n = if storable { MAX_STORABLE_N } else { MAX_N };
    if digits.int.len() + digits.frac.len() > MAX_DIGITS || !(MIN_N..=max_n).contains(&digits.n) {
        return None;
    }
    Some(write_notation(digits, buf))
}

/// ECMAScript's Number::toString (from step 6 on) of a decimal given by its digits: fixed
/// notation when the decimal exponent `n` is in (-6, 21], exponent notation otherwise.
fn write_notation(d: Digits<'_>, buf: &mut [u8; TEXT_CAPACITY]) -> usize {
    // The digits in one piece (at most 17 of them: from zmij, or 15 from a kept literal).
    let mut all = [0u8; 20];
    let k = d.int.len() + d.frac.len();
    if k > all.len() {
        return 0; // never: callers pass at most 17 digits
    }
    all[..d.int.len()].copy_from_slice(d.int);
    all[d.int.len()..k].copy_from_slice(d.frac);
    let digits = &all[..k];
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        buf[len..len + bytes.len()].copy_from_slice(bytes);
        len += bytes.len();
    };
    if d.negative {
        put(b"-");
    }
    const ZEROS: &[u8; 21] = b"000000000000000000000";
    let n = d.n;
    if k as i32 <= n && n <= 21 {
        put(digits);
        put(&ZEROS[..(n - k as i32) as usize]);
    } else if 0 < n && n <= 21 {
        let (whole, frac) = digits.split_at(n as usize);
        put(whole);
        put(b".");
        put(frac);
    } else if -6 < n && n <= 0 {
        put(b"0.");
        put(&ZEROS[..n.unsigned_abs() as usize]);
        put(digits);
    } else {
        put(&digits[..1]);
        if k > 1 {
            put(b".");
            put(&digits[1..]);
        }
        let e = n - 1;
        put(if e < 0 { b"e-" } else { b"e+" });
        put(itoa::Buffer::new().format(e.unsigned_abs()).as_bytes());
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::tests::Rng;

    /// Both routes for one literal: the kept text (if kept) and the parsed-and-written one.
    fn both(text: &str, storable: bool) -> (Option<String>, String) {
        let mut buf = [0u8; TEXT_CAPACITY];
        let kept = ecmascript_text(&Literal::split(text.as_bytes()), storable, &mut buf)
            .map(|n| String::from_utf8(buf[..n].to_vec()).unwrap());
        let mut out = Vec::new();
        write_double(&mut out, parse_double(text.as_bytes()).unwrap());
        (kept, String::from_utf8(out).unwrap())
    }

    #[test]
    fn notation_follows_ecmascript() {
        for (text, want) in [
            ("5.0", "5"),
            ("-5.50", "-5.5"),
            ("0.1", "0.1"),
            ("1e21", "1e+21"),
            ("1E+21", "1e+21"),
            ("100000000000000000000.0", "100000000000000000000"),
            ("1e-7", "1e-7"),
            ("0.000001", "0.000001"),
            ("0.0000001", "1e-7"),
            ("1.5e-7", "1.5e-7"),
            ("123.456e-002", "1.23456"),
            ("0012.5e0", "12.5"),
            ("1.25e+300", "1.25e+300"),
            ("-0.00012e-3", "-1.2e-7"),
            ("120e-2", "1.2"),
            ("123456789012345.0", "123456789012345"),
        ] {
            let (kept, written) = both(text, false);
            assert_eq!(kept.as_deref(), Some(want), "{text}");
            assert_eq!(written, want, "{text}");
        }
        // Not kept: zero, 16+ digits, beyond the normal range, unstorable when asked.
        for text in [
            "0.0",
            "-0.0",
            "0e5",
            "0.1234567890123456",
            "1e-320",
            "1e308",
        ] {
            assert_eq!(both(text, false).0, None, "{text}");
        }
        assert_eq!(both("1e18", true).0, None);
        assert_eq!(
            both("9.99e17", true).0.as_deref(),
            Some("999000000000000000")
        );
    }

    fn random_literal(rng: &mut Rng) -> String {
        let mut s = String::new();
        if rng.below(2) == 0 {
            s.push('-');
        }
        let digits = |rng: &mut Rng, n: usize| -> String {
            (0..n)
                .map(|_| char::from(b'0' + rng.below(10) as u8))
                .collect()
        };
        match rng.below(4) {
            0 => s.push('0'),
            _ => {
                s.push(char::from(b'1' + rng.below(9) as u8));
                let n = rng.below(20);
                s.push_str(&digits(rng, n));
            }
        }
        if rng.below(3) > 0 {
            s.push('.');
            let n = 1 + rng.below(20);
            s.push_str(&digits(rng, n));
            if rng.below(3) == 0 {
                s.push_str(&"0".repeat(rng.below(5)));
            }
        }
        if rng.below(2) == 0 || !s.contains('.') {
            s.push(if rng.below(2) == 0 { 'e' } else { 'E' });
            match rng.below(3) {
                0 => s.push('+'),
                1 => s.push('-'),
                _ => {}
            }
            s.push_str(&"0".repeat(rng.below(3)));
            let e = match rng.below(4) {
                0 => rng.below(25),
                1 => rng.below(330),
                _ => rng.below(10),
            };
            s.push_str(&e.to_string());
        }
        s
    }

    #[test]
    fn kept_text_is_what_parsing_and_writing_give() {
        let mut rng = Rng(0x1234_5678_9ABC_DEF1);
        let mut kept = 0;
        for _ in 0..1_000_000 {
            let text = random_literal(&mut rng);
            let storable = rng.below(2) == 0;
            let (k, written) = both(&text, storable);
            if let Some(k) = k {
                kept += 1;
                assert_eq!(k, written, "{text}");
            }
        }
        assert!(kept > 200_000, "{kept}");
    }

    #[test]
    fn doubles_are_written_as_ryu_js_writes_them() {
        let mut rng = Rng(0x5EED_0FD0_B1E5);
        let check = |f: f64| {
            let mut out = Vec::new();
            write_double(&mut out, f);
            assert_eq!(
                std::str::from_utf8(&out).unwrap(),
                ryu_js::Buffer::new().format_finite(f),
                "{f:e}"
            );
        };
        for f in [
            0.0,
            -0.0,
            1.0,
            -1.5,
            1e21,
            1e20,
            1e-7,
            1e-6,
            5e-324,
            f64::MAX,
            f64::MIN,
        ] {
            check(f);
        }
        for _ in 0..2_000_000 {
            let bits = rng.next();
            let f = match rng.below(4) {
                0 => f64::from_bits(bits),
                1 => f64::from_bits(bits >> 12), // subnormal
                2 => (bits >> 11) as f64 * 10f64.powi(rng.below(50) as i32 - 25),
                _ => (bits as i64 >> rng.below(64)) as f64,
            };
            if f.is_finite() {
                check(f);
            }
        }
    }

    #[test]
    fn shortest_forms_of_random_doubles_are_kept_as_they_are() {
        // ryu-js's text of a double with at most 15 digits is kept unchanged.
        let mut rng = Rng(0x0DDB_1A5E_5BAD_5EED);
        for _ in 0..1_000_000 {
            let f = f64::from_bits(rng.next());
            if !f.is_finite() || f == 0.0 {
                continue;
            }
            let mut out = Vec::new();
            write_double(&mut out, f);
            let text = String::from_utf8(out).unwrap();
            if text.contains('e') || text.contains('.') {
                let (k, written) = both(&text, false);
                assert_eq!(written, text);
                if let Some(k) = k {
                    assert_eq!(k, text);
                }
            }
        }
    }
}
