//! Hostile inputs for the native executor: huge, deep, non-finite, oddly encoded
//! programs. Each must end in an outcome of the expected kind, with a sensible
//! message, and quickly.
//!
//! Timing: tests normally must not assert on wall-clock time, but the requirement
//! for hostile inputs is an outcome "within 1 s each". The bound below is that
//! 1 s, deliberately generous (these take milliseconds in an optimised build; the
//! workspace builds tests with `opt-level = 2`), so it only trips on a
//! super-linear blow-up, not on a slow or busy machine. All inputs are measured
//! in one test so their timings print together (`--nocapture`).

use std::time::{Duration, Instant};

use cadrl_rewards::exec::{Outcome, execute_native};
use cadrl_rewards::geom::mass_props;

/// Generous per-input bound (see the module comment).
const LIMIT: Duration = Duration::from_secs(1);

const HEADER: &str = "import cadquery as cq\n";

#[derive(Debug)]
enum Expect {
    /// A solid, with its volume when known (relative tolerance 1e-6).
    Valid(Option<f64>),
    /// Outcome kind and a fragment its message must contain.
    Syntax(&'static str),
    Exec(&'static str),
    Unsupported(&'static str),
}

struct Case {
    name: &'static str,
    src: String,
    expect: Expect,
}

fn case(name: &'static str, src: impl Into<String>, expect: Expect) -> Case {
    Case { name, src: src.into(), expect }
}

fn prog(body: &str) -> String {
    format!("{HEADER}{body}\n")
}

fn first_fixture() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/gencad-dev/cases.jsonl");
    let text = std::fs::read_to_string(path).expect("fixtures present beside the checkout");
    let line = text.lines().next().expect("a fixture");
    let v: serde_json::Value = serde_json::from_str(line).expect("json");
    v["code"].as_str().expect("code").to_owned()
}

/// Deterministic printable junk (an LCG over a Python-ish alphabet).
fn junk(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcXYZ019_ .,:;=+-*/()[]{}'\"#\\\n\t@!?<>%&|^~`$";
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ALPHABET[(x >> 33) as usize % ALPHABET.len()] as char
        })
        .collect()
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();

    // ~1 MB: 20k repeated valid lines.
    let mut big = String::from(HEADER);
    for i in 0..20_000 {
        big.push_str(&format!("b = cq.Workplane(\"XY\").box(1.0, 2.0, 3.0)  # padding line {i:05}\n"));
    }
    big.push_str("solid = b\n");
    assert!(big.len() >= 1_000_000);
    v.push(case("1 MB of valid lines (20k)", big, Expect::Valid(Some(6.0))));

    // 1 MB of junk.
    v.push(case("1 MB of junk", junk(1 << 20), Expect::Syntax("")));

    // 10^5 chained calls.
    let mut chain = String::from("solid = cq.Workplane(\"XY\")");
    for _ in 0..100_000 {
        chain.push_str(".moveTo(0,0)");
    }
    chain.push_str(".circle(1).extrude(1)");
    v.push(case("10^5 chained moveTo", prog(&chain), Expect::Valid(Some(std::f64::consts::PI))));
    let mut chain = String::from("solid = cq.Workplane(\"XY\").moveTo(0,0)");
    for _ in 0..50_000 {
        chain.push_str(".lineTo(1,0).lineTo(0,0)");
    }
    v.push(case("10^5 chained lineTo (open wire)", prog(&chain), Expect::Exec("holds no solid")));

    // 10^4 nested parentheses, as CPython: too many nested parentheses.
    let deep = format!("solid = {}1{}", "(".repeat(10_000), ")".repeat(10_000));
    v.push(case("10^4 nested parentheses", prog(&deep), Expect::Syntax("too many nested parentheses")));
    let deep = format!("solid = {}1{}", "[".repeat(10_000), "]".repeat(10_000));
    v.push(case("10^4 nested lists", prog(&deep), Expect::Syntax("too many nested parentheses")));
    let ok = format!("x = {}1{}\nsolid = cq.Workplane(\"XY\").box(1, 1, 1)", "[".repeat(200), "]".repeat(200));
    v.push(case("200 nested lists (at the limit)", prog(&ok), Expect::Valid(Some(1.0))));
    let call = format!("solid = cq.Workplane(\"XY\").box({}1{}, 1, 1)", "(".repeat(198), ")".repeat(198));
    v.push(case("199 nested parentheses in a call", prog(&call), Expect::Valid(Some(1.0))));

    // Huge numbers.
    v.push(case("1e308*10 (inf) as a box side", prog("solid = cq.Workplane(\"XY\").box(1e308*10, 1, 1)"), Expect::Exec("box dimensions")));
    v.push(case("10**400", prog("solid = cq.Workplane(\"XY\").box(10**400, 1, 1)"), Expect::Exec("OverflowError")));
    v.push(case("1e999 extrude", prog("solid = cq.Workplane(\"XY\").rect(1, 1).extrude(1e999)"), Expect::Exec("non-finite extrude")));
    v.push(case("-1e999 circle", prog("solid = cq.Workplane(\"XY\").circle(-1e999).extrude(1)"), Expect::Exec("circle radius")));
    v.push(case("huge int literal", prog("solid = cq.Workplane(\"XY\").box(1, 1, 123456789012345678901234567890123456789)"), Expect::Valid(None)));

    // NaN and inf.
    v.push(case("float('nan')", prog("solid = cq.Workplane(\"XY\").box(float('nan'), 1, 1)"), Expect::Exec("NameError: name 'float'")));
    v.push(case("float('inf')", prog("x = float('inf')\nsolid = cq.Workplane(\"XY\").rect(1, 1).extrude(x)"), Expect::Exec("NameError: name 'float'")));
    v.push(case("1e999-1e999 extrude", prog("nan = 1e999 - 1e999\nsolid = cq.Workplane(\"XY\").rect(1, 1).extrude(nan)"), Expect::Exec("non-finite extrude")));
    v.push(case("1e999-1e999 box", prog("nan = 1e999 - 1e999\nsolid = cq.Workplane(\"XY\").box(nan, 1, 1)"), Expect::Exec("box dimensions")));
    v.push(case("1e999-1e999 circle", prog("nan = 1e999 - 1e999\nsolid = cq.Workplane(\"XY\").circle(nan).extrude(1)"), Expect::Exec("circle radius")));
    v.push(case("1e999-1e999 moveTo", prog("nan = 1e999 - 1e999\nsolid = cq.Workplane(\"XY\").moveTo(nan, 0).rect(1, 1).extrude(1)"), Expect::Exec("non-finite")));
    v.push(case("1e999-1e999 lineTo", prog("nan = 1e999 - 1e999\nsolid = cq.Workplane(\"XY\").lineTo(nan, 1).lineTo(0, 1).close().extrude(1)"), Expect::Exec("non-finite")));
    v.push(case("1e999-1e999 arc", prog("nan = 1e999 - 1e999\nsolid = cq.Workplane(\"XY\").threePointArc((nan, 1), (0, 2)).close().extrude(1)"), Expect::Exec("non-finite")));
    v.push(case("1e999-1e999 polygon", prog("nan = 1e999 - 1e999\nsolid = cq.Workplane(\"XY\").polygon(6, nan).extrude(1)"), Expect::Exec("non-finite")));
    v.push(case("1e999-1e999 plane origin", prog("nan = 1e999 - 1e999\nsolid = cq.Workplane(\"XY\", origin=(nan, 0, 0)).box(1, 1, 1)"), Expect::Exec("non-finite plane")));
    v.push(case("1e999 plane normal", prog("solid = cq.Workplane(cq.Plane((0, 0, 0), (1, 0, 0), (0, 0, 1e999))).box(1, 1, 1)"), Expect::Exec("non-finite plane")));

    // A 10^6-character identifier, bound and unbound.
    let name = "a".repeat(1_000_000);
    v.push(case("10^6-char identifier", prog(&format!("{name} = cq.Workplane(\"XY\").box(1, 1, 1)\nsolid = {name}")), Expect::Valid(Some(1.0))));
    v.push(case("10^6-char undefined identifier", prog(&format!("solid = {name}")), Expect::Exec("NameError")));

    // A 1 MB string literal full of brackets (which the nesting check must skip).
    let s = "(".repeat(1 << 20);
    v.push(case("1 MB string literal", prog(&format!("p = \"{s}\"\nsolid = cq.Workplane(\"XY\").box(1, 1, 1)")), Expect::Valid(Some(1.0))));
    v.push(case("1 MB string as a plane name", prog(&format!("solid = cq.Workplane(\"{s}\").box(1, 1, 1)")), Expect::Exec("ValueError: Supported names")));

    // Extreme but finite geometry.
    v.push(case("extrude 1e300", prog("solid = cq.Workplane(\"XY\").rect(1, 1).extrude(1e300)"), Expect::Valid(Some(1e300))));
    v.push(case("circle radius 1e-300", prog("solid = cq.Workplane(\"XY\").circle(1e-300).extrude(1)"), Expect::Exec("zero-area")));
    v.push(case("rect 1e300 x 1e300", prog("solid = cq.Workplane(\"XY\").rect(1e300, 1e300).extrude(1)"), Expect::Exec("non-finite profile")));
    v.push(case("box 1e-300", prog("solid = cq.Workplane(\"XY\").box(1e-300, 1e-300, 1e-300)"), Expect::Valid(None)));

    // Unicode identifiers.
    v.push(case("unicode identifier", prog("профиль = cq.Workplane(\"XY\").box(1, 2, 3)\nsolid = профиль"), Expect::Valid(Some(6.0))));
    v.push(case("CJK identifier", prog("立方体 = cq.Workplane(\"XY\").box(1, 2, 3)\nsolid = 立方体"), Expect::Valid(Some(6.0))));

    // NUL bytes.
    v.push(case("NUL byte after a statement", prog("solid = cq.Workplane(\"XY\").box(1, 1, 1)\0"), Expect::Syntax("")));
    v.push(case("NUL byte in a string", prog("solid = cq.Workplane(\"X\0Y\").box(1, 1, 1)"), Expect::Syntax("")));

    // Line endings and whitespace.
    let fixture = first_fixture();
    v.push(case("fixture with LF", fixture.clone(), Expect::Valid(None)));
    v.push(case("fixture with CRLF", fixture.replace('\n', "\r\n"), Expect::Valid(None)));
    v.push(case("CRLF, error on line 3", "import cadquery as cq\r\nx = 1\r\nsolid = y\r\n", Expect::Exec("NameError: name 'y'")));
    v.push(case("tabs between tokens", prog("solid\t=\tcq.Workplane(\t\"XY\"\t).box(1,\t1,\t1)"), Expect::Valid(Some(1.0))));
    v.push(case("unexpected tab indentation", prog("\tsolid = cq.Workplane(\"XY\").box(1, 1, 1)"), Expect::Syntax("indent")));
    v.push(case("mixed tab/space indentation", prog("if True:\n\tx = 1\n        solid = cq.Workplane(\"XY\").box(1, 1, 1)"), Expect::Unsupported("if")));

    // Nothing to run.
    v.push(case("only comments", "# a comment\n# another one\n", Expect::Exec("never assigned")));
    v.push(case("empty input", "", Expect::Exec("never assigned")));
    v
}

fn check(c: &Case, out: &Outcome) -> Result<(), String> {
    let contains = |msg: &str, frag: &str| {
        if msg.contains(frag) { Ok(()) } else { Err(format!("message {:?} lacks {frag:?}", shorten(msg))) }
    };
    match (&c.expect, out) {
        (Expect::Valid(vol), Outcome::Valid(s)) => {
            let m = mass_props(s);
            if !(m.volume.is_finite() && m.volume > 0.0) {
                return Err(format!("volume {}", m.volume));
            }
            if !(m.bbox.min.is_finite() && m.bbox.max.is_finite()) || m.bbox.is_empty() {
                return Err(format!("bbox {:?}", m.bbox));
            }
            match vol {
                Some(v) if ((m.volume - v) / v).abs() > 1e-6 => Err(format!("volume {} instead of {v}", m.volume)),
                _ => Ok(()),
            }
        }
        (Expect::Syntax(f), Outcome::SyntaxError(d)) | (Expect::Exec(f), Outcome::ExecError(d)) => {
            if d.message.is_empty() {
                return Err("empty message".into());
            }
            contains(&d.message, f)
        }
        (Expect::Unsupported(f), Outcome::Unsupported { construct, .. }) => contains(construct, f),
        (e, o) => Err(format!("expected {e:?}, got {}", o.reason().map_or("valid".into(), |r| shorten(&r)))),
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= 120 { s.to_owned() } else { format!("{}... ({} bytes)", s.chars().take(120).collect::<String>(), s.len()) }
}

#[test]
fn hostile_inputs_end_in_the_expected_outcome_within_a_second() {
    let mut failures = Vec::new();
    for c in cases() {
        let t0 = Instant::now();
        let out = execute_native(&c.src, "solid");
        let t_exec = t0.elapsed();
        let t1 = Instant::now();
        let verdict = check(&c, &out);
        let t_check = t1.elapsed();
        let summary = out.reason().map_or_else(|| "valid".to_owned(), |r| shorten(&r));
        println!("{:>9.3} ms exec {:>9.3} ms props  {:<36} {} bytes -> {summary}", t_exec.as_secs_f64() * 1e3, t_check.as_secs_f64() * 1e3, c.name, c.src.len());
        if let Err(e) = verdict {
            failures.push(format!("{}: {e}", c.name));
        }
        if t_exec > LIMIT {
            failures.push(format!("{}: took {t_exec:?} (limit {LIMIT:?})", c.name));
        }
    }
    assert!(failures.is_empty(), "hostile inputs:\n{}", failures.join("\n"));
}
