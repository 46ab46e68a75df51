//! Shared code of the fuzz targets: the oracle every outcome is checked against,
//! and the fixture splicer of `mutate_fixture`.

use cadrl_rewards::exec::{MAX_MESSAGE, Outcome, execute_native};
use cadrl_rewards::geom::{mass_props, overlap};

/// Run `src` natively and check the outcome: no panic escapes, no internal error,
/// diagnostics carry a message, and a valid solid has a finite positive volume,
/// a finite non-empty bounding box and a sane self-IoU. Messages are capped.
///
/// Set `CADRL_FUZZ_ALLOW_EMPTY_VALID=1` to accept valid solids of volume 0 (a known
/// bug, see `fuzz/README.md`) and look for other failures.
pub fn check(src: &str) {
    static ALLOW_EMPTY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let allow_empty = *ALLOW_EMPTY.get_or_init(|| std::env::var_os("CADRL_FUZZ_ALLOW_EMPTY_VALID").is_some_and(|v| v == "1"));
    let out = execute_native(src, "solid");
    match &out {
        Outcome::Valid(s) => {
            let m = mass_props(s);
            if allow_empty && m.volume == 0.0 {
                return;
            }
            assert!(m.volume.is_finite() && m.volume > 0.0, "valid solid with volume {} for {src:?}", m.volume);
            let b = m.bbox;
            assert!(b.min.is_finite() && b.max.is_finite(), "valid solid with non-finite bbox {b:?} for {src:?}");
            assert!(!b.is_empty(), "valid solid with an empty bbox {b:?} for {src:?}");
            let o = overlap(s, s);
            let iou = o.iou();
            assert!((0.0..=1.0).contains(&iou), "self-IoU {iou} out of [0, 1] for {src:?}");
        }
        Outcome::SyntaxError(d) | Outcome::ExecError(d) => {
            assert!(!d.message.is_empty(), "empty diagnostic {out:?} for {src:?}");
            assert!(d.message.len() <= MAX_MESSAGE + 40, "uncapped message of {} bytes for {src:?}", d.message.len());
        }
        Outcome::Unsupported { construct, .. } => {
            assert!(!construct.contains("internal error"), "interpreter panicked: {construct} for {src:?}");
            assert!(!construct.contains("too large or deep"), "big-stack thread failed: {construct} for {src:?}");
            assert!(!construct.is_empty(), "empty construct for {src:?}");
            assert!(construct.len() <= MAX_MESSAGE + 40, "uncapped construct of {} bytes for {src:?}", construct.len());
        }
    }
    let _ = out.reason();
}

/// The `code` fields of the fixture programs (a real GenCAD-Code sample), read at
/// build time from `shared/` beside the checkout.
pub fn fixtures() -> &'static [String] {
    static F: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        const TEXT: &str = include_str!("../../../shared/fixtures/gencad-dev/cases.jsonl");
        let mut v = Vec::new();
        for line in TEXT.lines().filter(|l| !l.trim().is_empty()) {
            let j: serde_json::Value = serde_json::from_str(line).expect("fixture json");
            for key in ["code", "candidate"] {
                if let Some(c) = j[key].as_str() {
                    v.push(c.to_owned());
                }
            }
        }
        v
    })
}

/// Literal values that make arithmetic and geometry interesting.
const SPECIAL_NUMBERS: &[&str] = &[
    "0", "0.0", "-0.0", "1", "-1", "1e-300", "-1e-300", "1e300", "-1e300", "1e308*10", "1e999", "-1e999",
    "(1e999-1e999)", "10**400", "2**63", "-2**63", "9223372036854775807", "9223372036854775808", "1e-9",
    "1e-7", "5e-324", "2", "3", "10000", "10001", "0.5", "True", "None", "'a'", "(1, 2)", "[0, 0, 1]",
    "cq.Vector(0, 0, 1)", "0**-1", "(-8)**0.5", "1/0", "1/3",
];

/// Method names the interpreter models, plus some it does not.
const METHODS: &[&str] = &[
    "moveTo", "lineTo", "line", "hLine", "vLine", "hLineTo", "vLineTo", "threePointArc", "close", "wire",
    "circle", "rect", "polygon", "add", "extrude", "box", "union", "cut", "intersect", "val", "Workplane",
    "Plane", "Vector", "named", "x", "y", "z", "fillet", "sketch", "workplane",
];

/// Byte ranges of numeric literals in `src` (digits with `.`, exponent).
fn number_spans(src: &str) -> Vec<(usize, usize)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts = b[i].is_ascii_digit() && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'));
        if starts {
            let s = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.' || b[i] == b'_') {
                i += 1;
            }
            if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                i += 1;
                if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
                    i += 1;
                }
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            out.push((s, i));
        } else {
            i += 1;
        }
    }
    out
}

/// Byte ranges of identifiers; with `after_dot`, only attribute/method names.
fn ident_spans(src: &str, after_dot: bool) -> Vec<(usize, usize)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts = (b[i].is_ascii_alphabetic() || b[i] == b'_') && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'));
        if starts {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            if !after_dot || (s > 0 && b[s - 1] == b'.') {
                out.push((s, i));
            }
        } else {
            i += 1;
        }
    }
    out
}

fn pick<T>(v: &[T], k: usize) -> Option<&T> {
    if v.is_empty() { None } else { Some(&v[k % v.len()]) }
}

fn splice(src: &str, (s, e): (usize, usize), with: &str) -> String {
    let mut out = String::with_capacity(src.len() + with.len());
    out.push_str(&src[..s]);
    out.push_str(with);
    out.push_str(&src[e..]);
    out
}

/// Nearest char boundary at or below `i`.
fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Build a program from fuzz bytes: `data[0]` picks a fixture, `data[1]` an edit,
/// `data[2..4]` where, `data[4]` a table entry, the rest is spliced text.
pub fn mutate(data: &[u8]) -> Option<String> {
    if data.len() < 5 {
        return None;
    }
    let fx = fixtures();
    let base = fx[data[0] as usize % fx.len()].as_str();
    let site = u16::from_le_bytes([data[2], data[3]]) as usize;
    let table = data[4] as usize;
    let payload = String::from_utf8_lossy(&data[5..]);
    let payload = payload.as_ref();
    let nums = number_spans(base);
    let methods = ident_spans(base, true);
    let idents = ident_spans(base, false);
    Some(match data[1] % 10 {
        // one numeric literal -> fuzz text
        0 => splice(base, *pick(&nums, site)?, payload),
        // one numeric literal -> a special value
        1 => splice(base, *pick(&nums, site)?, SPECIAL_NUMBERS[table % SPECIAL_NUMBERS.len()]),
        // one method name -> fuzz text
        2 => splice(base, *pick(&methods, site)?, payload),
        // one method name -> another (modelled or not)
        3 => splice(base, *pick(&methods, site)?, METHODS[table % METHODS.len()]),
        // any identifier -> fuzz text
        4 => splice(base, *pick(&idents, site)?, payload),
        // insert fuzz text at a byte offset
        5 => {
            let at = floor_boundary(base, site % (base.len() + 1));
            splice(base, (at, at), payload)
        }
        // truncate at a byte offset and append fuzz text
        6 => {
            let at = floor_boundary(base, site % (base.len() + 1));
            format!("{}{payload}", &base[..at])
        }
        // drop, duplicate or swap lines
        7 => {
            let mut lines: Vec<&str> = base.lines().collect();
            let n = lines.len();
            if n == 0 {
                return None;
            }
            let (i, j) = (site % n, table % n);
            match data.get(5).copied().unwrap_or(0) % 3 {
                0 => {
                    lines.remove(i);
                }
                1 => lines.insert(i, lines[j]),
                _ => lines.swap(i, j),
            }
            lines.join("\n")
        }
        // several numeric literals -> special values, chosen by the payload bytes
        8 => {
            let mut out = base.to_owned();
            // replace from the end so earlier spans stay valid
            let mut chosen: Vec<(usize, usize, &str)> = data[5..]
                .chunks(2)
                .filter_map(|c| {
                    let span = *pick(&nums, c[0] as usize)?;
                    let v = SPECIAL_NUMBERS[*c.get(1).unwrap_or(&0) as usize % SPECIAL_NUMBERS.len()];
                    Some((span.0, span.1, v))
                })
                .collect();
            chosen.sort_by_key(|c| std::cmp::Reverse(c.0));
            chosen.dedup_by_key(|c| c.0);
            for (s, e, v) in chosen {
                out = splice(&out, (s, e), v);
            }
            out
        }
        // append a statement using the fuzz text
        _ => format!("{base}\n{payload}"),
    })
}
