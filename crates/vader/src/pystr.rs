//! The few Python `str` methods and `round()` the reference relies on, with Python's semantics.
//!
//! Python and Rust disagree in small ways that change scores: `str.split()`/`strip()` also
//! treat U+001C..U+001F as whitespace; `str.isupper()` rejects titlecase letters; `round()`
//! rounds the exact binary value half-to-even. Unicode tables come from Rust's `std`, patched
//! where its newer Unicode disagrees with Python 3.11's 14.0 on a code point assigned in 14.0
//! (a test compares every such code point with the live interpreter); code points assigned
//! later follow `std`.

/// `str.isspace()` for one code point: Unicode `White_Space` plus the four ASCII information
/// separators U+001C..U+001F (bidi class B/S), which Python counts and Rust does not.
#[inline]
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `str.strip()` with no argument. Only the reading of the lexicon files uses it (`build.rs`
/// and the tests that check its tables).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn strip_whitespace(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// `string.punctuation`: the 32 ASCII punctuation characters.
#[inline]
fn is_ascii_punctuation(b: u8) -> bool {
    b.is_ascii_punctuation()
}

/// `token.strip(string.punctuation)`. Working on bytes is exact: ASCII bytes never occur
/// inside a multi-byte UTF-8 sequence.
pub(crate) fn strip_punctuation(token: &str) -> &str {
    let bytes = token.as_bytes();
    let start = bytes
        .iter()
        .position(|&b| !is_ascii_punctuation(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_ascii_punctuation(b))
        .map_or(start, |i| i + 1);
    // start and end sit next to ASCII bytes (or the ends), so both are char boundaries.
    token.get(start..end).unwrap_or("")
}

/// Number of code points, stopping early once it exceeds `limit`.
#[inline]
pub(crate) fn char_count_exceeds(s: &str, limit: usize) -> bool {
    // A code point takes 1 to 4 bytes.
    if s.len() <= limit {
        return false;
    }
    if s.len() > 4 * limit {
        return true;
    }
    s.chars().count() > limit
}

/// The 31 code points of general category Lt (titlecase letters), Unicode 14 through 17.
/// `std` has no `is_titlecase`; Python's `isupper()`/`islower()` return False on them.
fn is_titlecase(c: char) -> bool {
    matches!(c,
        '\u{1C5}' | '\u{1C8}' | '\u{1CB}' | '\u{1F2}'
        | '\u{1F88}'..='\u{1F8F}'
        | '\u{1F98}'..='\u{1F9F}'
        | '\u{1FA8}'..='\u{1FAF}'
        | '\u{1FBC}' | '\u{1FCC}' | '\u{1FFC}')
}

/// CPython's `Py_UNICODE_ISLOWER` (the Unicode `Lowercase` property, as of Python 3.11's
/// Unicode 14.0): Rust's newer tables moved six assigned code points, put back here. The
/// Python-oracle test in this module compares every assigned code point.
fn is_lowercase(c: char) -> bool {
    match c {
        '\u{295}' => true,
        '\u{10FC}' | '\u{A7F2}'..='\u{A7F4}' | '\u{AB69}' => false,
        _ => c.is_lowercase(),
    }
}

/// `str.isupper()`: at least one cased character and no lowercase or titlecase one. "Cased"
/// here follows CPython: the Unicode `Uppercase` property, so `:)` and `!!` are not upper.
pub(crate) fn is_upper(s: &str) -> bool {
    if s.is_ascii() {
        let bytes = s.as_bytes();
        return !bytes.iter().any(u8::is_ascii_lowercase)
            && bytes.iter().any(u8::is_ascii_uppercase);
    }
    let mut cased = false;
    for c in s.chars() {
        if is_lowercase(c) || is_titlecase(c) {
            return false;
        }
        if c.is_uppercase() {
            cased = true;
        }
    }
    cased
}

/// `str.lower()` into `out` (cleared first). Full case mapping, including the context-dependent
/// final sigma, which only `str::to_lowercase` implements.
pub(crate) fn lower_into(s: &str, out: &mut String) {
    out.clear();
    if s.is_ascii() {
        out.push_str(s);
        out.make_ascii_lowercase();
    } else if s.contains('Σ') {
        out.push_str(&s.to_lowercase());
    } else {
        for c in s.chars() {
            out.extend(c.to_lowercase());
        }
    }
}

/// Python's `round(x, ndigits)` for `scale == 10^ndigits`: round the exact binary value of `x`
/// to `ndigits` decimals, ties to even, then take the double nearest that decimal. Python does
/// this through a decimal string; here the product `x * scale` is split exactly with a fused
/// multiply-add so the tie decision is exact without formatting.
pub(crate) fn py_round(x: f64, scale: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let ax = x.abs();
    let p = ax * scale;
    // ax * scale == p + e exactly.
    let e = ax.mul_add(scale, -p);
    let mut k = p.floor();
    if p == k && e < 0.0 {
        k -= 1.0;
    }
    // Fraction above k is (p - k) + e; p - k is exact (a double's fractional part is a double).
    let d = (p - k) - 0.5; // exact for p - k in [0.25, 1], and far from 0 otherwise
    // Above the tie: up. On an exact tie: to the even neighbour.
    // k < 2^53 here (x is a proportion or a compound in [-1, 1]), so the cast is exact.
    let up = d > -e || (d == -e && (k as u64) % 2 == 1);
    let rounded = if up { k + 1.0 } else { k };
    // Python keeps the sign even when the result is zero: round(-0.00001, 4) == -0.0.
    (rounded / scale).copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quirk_information_separators_are_python_whitespace() {
        // "a\x1cb".split() == ['a', 'b'] in Python; Rust's is_whitespace says no.
        assert!(is_space('\u{1c}') && is_space('\u{1f}'));
        assert!(!'\u{1c}'.is_whitespace());
        assert!(is_space('\u{a0}') && is_space('\u{3000}') && is_space('\u{85}'));
        assert!(!is_space('\u{200b}') && !is_space('\u{180e}') && !is_space('\u{feff}'));
    }

    #[test]
    fn strip_punctuation_is_ascii_only() {
        assert_eq!(strip_punctuation("¡hola!"), "¡hola");
        assert_eq!(strip_punctuation("'good'..."), "good");
        assert_eq!(strip_punctuation(":)"), "");
        assert_eq!(strip_punctuation("«x»"), "«x»");
    }

    #[test]
    fn quirk_isupper_needs_a_cased_letter_and_rejects_titlecase() {
        assert!(!is_upper(":)"));
        assert!(!is_upper("!!"));
        assert!(!is_upper("<3"));
        assert!(is_upper("GOOD!"));
        assert!(is_upper(":D"));
        assert!(is_upper("ÉTÉ"));
        assert!(!is_upper("Ǆa"));
        assert!(!is_upper("ǅ")); // titlecase letter
        assert!(is_upper("Ǆ"));
        assert!(!is_upper("ª")); // Other_Lowercase: islower() is True in Python
        assert!(is_upper("Ⓐ")); // Other_Uppercase
        assert!(!is_upper(""));
    }

    #[test]
    fn lower_matches_python_on_special_mappings() {
        let mut s = String::new();
        lower_into("\u{212A}ISS", &mut s); // KELVIN SIGN lowers to ASCII k
        assert_eq!(s, "kiss");
        lower_into("İ", &mut s);
        assert_eq!(s, "i\u{307}");
        lower_into("ΟΔΟΣ", &mut s); // final sigma
        assert_eq!(s, "οδος");
    }

    #[test]
    fn round_matches_python_round() {
        // Expected values are Python 3.11's round() outputs.
        let cases: [(f64, f64, f64); 10] = [
            (0.0625, 1000.0, 0.062),    // exact tie: half to even
            (0.0635, 1000.0, 0.064),    // binary value is above the tie
            (2.675, 100.0, 2.67),       // binary value is below the tie
            (0.0005, 1000.0, 0.001),    // binary value is above the tie
            (0.00015, 10000.0, 0.0001), // below
            (-0.30005, 10000.0, -0.3),  // below the tie
            (0.5, 1000.0, 0.5),
            (0.999_95, 10000.0, 1.0), // 0.99995 is stored just above
            (-0.00001, 10000.0, -0.0),
            (1.0, 10000.0, 1.0),
        ];
        for (x, scale, want) in cases {
            let got = py_round(x, scale);
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "round({x}, {scale}) = {got}, want {want}"
            );
        }
    }

    /// Python 3.11's answers for every code point, from the test venv's interpreter: lines
    /// `cp space upper lower title lowered` for code points with any flag set or a changed
    /// lower case, and `cn start end` for ranges unassigned in its Unicode 14.0.
    const PY_DUMP: &str = r#"
import sys, unicodedata
out = []
start = None
for cp in range(0x110000):
    if 0xD800 <= cp <= 0xDFFF:
        continue
    c = chr(cp)
    if unicodedata.category(c) == "Cn":
        if start is None:
            start = cp
        continue
    if start is not None:
        out.append(f"cn {start:x} {cp - 1:x}")
        start = None
    flags = (c.isspace(), c.isupper(), c.islower(), unicodedata.category(c) == "Lt")
    low = c.lower()
    if any(flags) or low != c:
        out.append(f"{cp:x} " + " ".join(str(int(f)) for f in flags) + " " + ",".join(f"{ord(x):x}" for x in low))
if start is not None:
    out.append(f"cn {start:x} 10ffff")
print("\n".join(out))
"#;

    #[test]
    fn unicode_properties_match_python_on_assigned_code_points() {
        let Some(python) = testkit::python() else {
            return;
        };
        let out = std::process::Command::new(&python)
            .args(["-c", PY_DUMP])
            .output()
            .expect("run python");
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).expect("utf-8");
        let mut unassigned: Vec<(u32, u32)> = Vec::new();
        let mut python: std::collections::BTreeMap<u32, ([bool; 4], String)> = Default::default();
        let hex = |s: &str| u32::from_str_radix(s, 16).expect("hex");
        for line in text.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            if f[0] == "cn" {
                unassigned.push((hex(f[1]), hex(f[2])));
                continue;
            }
            let flags = [f[1] == "1", f[2] == "1", f[3] == "1", f[4] == "1"];
            let lowered: String = f[5]
                .split(',')
                .filter_map(|h| char::from_u32(hex(h)))
                .collect();
            python.insert(hex(f[0]), (flags, lowered));
        }
        let is_unassigned = |cp: u32| {
            let i = unassigned.partition_point(|&(a, _)| a <= cp);
            i > 0 && cp <= unassigned[i - 1].1
        };
        let mut differ = Vec::new();
        let mut lowered = String::new();
        for c in (0..=0x10ffffu32).filter_map(char::from_u32) {
            let cp = c as u32;
            if is_unassigned(cp) {
                continue; // newer Unicode in Rust's std may know these; Python 3.11 does not
            }
            let ours = [
                is_space(c),
                c.is_uppercase(),
                is_lowercase(c),
                is_titlecase(c),
            ];
            let mut buf = [0u8; 4];
            lower_into(c.encode_utf8(&mut buf), &mut lowered);
            let (want, want_lower) = python
                .get(&cp)
                .cloned()
                .unwrap_or(([false; 4], c.to_string()));
            // The single-char upper flag is exactly `str.isupper()` of that char.
            let single_upper = is_upper(c.encode_utf8(&mut buf));
            if ours != want || lowered != want_lower || single_upper != want[1] {
                differ.push(format!(
                    "U+{cp:04X}: ours {ours:?} {lowered:?}, python {want:?} {want_lower:?}"
                ));
            }
        }
        assert!(
            differ.is_empty(),
            "{} code points differ; first: {:?}",
            differ.len(),
            &differ[..differ.len().min(10)]
        );
    }
}
