//! Seeded generator of GenCAD-Code-style programs.
//!
//! Programs are written exactly in the data set's style (comments, `wp_sketchN`,
//! `loopK=`, `solidN=`, `solid=solid.union(...)`, Python `repr` floats, DeepCAD's
//! sketch-plane vectors with their `6.123233995736766e-17` terms) inside DeepCAD's
//! normalised frame: plane origins and extrude depths are multiples of 1/128 and the
//! part lies roughly in [-0.75, 0.75]^3; sketch coordinates sit on a per-sketch grid
//! of `size / d` (d in 19, 38, 57, 76, 95), which gives DeepCAD's long decimals.
//!
//! The first sketch makes the base body; each further sketch is drawn on a face of
//! the part's bounding box and unioned (a boss, extruded outward), cut (a pocket or
//! hole, extruded inward) or intersected. Every program is executed natively and kept
//! only if it is `Valid`, has volume above [`SynthConfig::min_volume`] and every
//! bounding-box side above [`SynthConfig::min_extent`]; it is then rendered.
//!
//! Generation is deterministic: sample `i` of seed `s` uses ChaCha8 seeded with `s`
//! on stream `i`, retrying (on the same stream) until a program passes.
//!
//! Geometry is the rewards crate's (`V3`, `P2`, `Aabb`); what is defined here is what
//! the program text needs: a `SketchPlane` (clean axes plus the literal vector texts
//! DeepCAD writes) and loops as the calls that draw them (`moveTo`, `lineTo`,
//! `threePointArc`, `circle`), sampled to polylines only to place holes and features.
//!
//! Files: `sketch.rs` (sketch planes, loops, outer shapes and holes), `program.rs` (one
//! program's text), this one (knobs, validation, rounding, sampling in parallel).

use std::fmt::Write as _;
use std::sync::Arc;

use cadrl_rewards::exec::{Outcome, execute_native};
use cadrl_rewards::geom::{MassProps, Solid, mass_props, v3};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

mod program;
mod sketch;

pub use program::generate_program;
use program::{Placement, generate_placed};

/// Probabilities of the boolean that joins a further sketch to the part: relative
/// weights (finite, >= 0, not all 0), normalised by their sum.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpMix {
    /// A boss extruded outward from a face of the part (default 0.68).
    pub union: f64,
    /// A pocket or hole extruded inward (default 0.3).
    pub cut: f64,
    /// An intersection with the part (default 0.02).
    pub intersect: f64,
}

impl Default for OpMix {
    fn default() -> Self {
        OpMix { union: 0.68, cut: 0.3, intersect: 0.02 }
    }
}

/// Difficulty knobs. The defaults are tuned so that sketches per program and the
/// API-call histogram per program match the 17 GenCAD-Code fixtures (see the report
/// in `cadrl data stats`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SynthConfig {
    /// Sketches (extruded bodies) per program, inclusive range.
    pub sketches: [usize; 2],
    /// Probability of one more sketch after each (geometric, capped by `sketches`).
    pub more_sketch_prob: f64,
    /// Segments per closed polygonal loop (closing segment included), inclusive range.
    pub segments: [usize; 2],
    /// Probability that a closed outer loop has arcs (slot, rounded rectangle,
    /// arc-ended or arc-sided shape).
    pub arc_prob: f64,
    /// Probability that an outer loop is a circle.
    pub circle_prob: f64,
    /// Probability that an outer loop gets holes (inner loops).
    pub hole_prob: f64,
    /// Probability of each further hole after the first (geometric).
    pub more_hole_prob: f64,
    /// Most holes in one sketch.
    pub max_holes: usize,
    /// Probability that a hole is a circle (else a square or hexagon).
    pub circle_hole_prob: f64,
    /// How each further sketch joins the part.
    pub ops: OpMix,
    /// Probability that the base sketch is on a vertical plane (DeepCAD's XZ/YZ
    /// frames); further sketches follow the face they sit on.
    pub rotated_plane_prob: f64,
    /// Probability that a further sketch plane is tilted off the axes by k*pi/128.
    pub tilted_plane_prob: f64,
    /// Probability of a two-sided extrude (half `extrude(d, both=True)`, half
    /// GenCAD's rebuilt workplane with `extrude(-d2)` and a union).
    pub two_sided_prob: f64,
    /// Smallest accepted volume.
    pub min_volume: f64,
    /// Smallest accepted bounding-box side.
    pub min_extent: f64,
    /// Tries per sample before giving up.
    pub max_attempts: u32,
    /// Round every float literal of the program to this many decimals before it is
    /// validated and rendered (0 = Python's shortest repr, as GenCAD-Code writes them,
    /// e.g. `0.6186266447368421`). Fewer digits make programs shorter and leave fewer
    /// tokens that no picture can predict: a small model trained from scratch spends its
    /// loss on the shape instead of on noise digits.
    pub decimals: u32,
    /// Scale every part so that the longest side of its bounding box is `fit`, centred on
    /// the origin (0 = off: parts keep the generator's sizes and positions). A render is
    /// framed to the part's bounding box, so without this neither size nor position is in
    /// the picture; with it, nearly every number of the program is (up to `decimals`).
    pub fit: f64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            sketches: [1, 5],
            more_sketch_prob: 0.42,
            segments: [4, 12],
            arc_prob: 0.4,
            circle_prob: 0.14,
            hole_prob: 0.22,
            more_hole_prob: 0.4,
            max_holes: 4,
            circle_hole_prob: 0.85,
            ops: OpMix::default(),
            rotated_plane_prob: 0.45,
            tilted_plane_prob: 0.04,
            two_sided_prob: 0.12,
            min_volume: 1e-4,
            min_extent: 2e-3,
            max_attempts: 200,
            decimals: 0,
            fit: 0.0,
        }
    }
}

/// One accepted synthetic sample.
#[derive(Clone, Debug)]
pub struct SynthSample {
    /// Its index within the seed (the ChaCha8 stream it was drawn from).
    pub index: u64,
    /// The program (binds the result to `solid`).
    pub code: String,
    /// The program's solid, executed natively.
    pub solid: Arc<Solid>,
    /// The solid's volume (DeepCAD's normalised units, cubed; scaled by `fit` when set).
    pub volume: f64,
    /// The GenCAD-Code-style render of the solid.
    pub image: image::RgbImage,
    /// Programs generated and rejected before this one.
    pub rejected: u32,
}

/// Python's `repr` of a float (shortest round-trip digits, scientific below 1e-4
/// and from 1e16).
pub(crate) fn py_repr(x: f64) -> String {
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let s = format!("{x:e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let n = digits.len() as i32;
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            if n <= exp + 1 {
                out.push_str(&digits);
                out.push_str(&"0".repeat((exp + 1 - n) as usize));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..(exp + 1) as usize]);
                out.push('.');
                out.push_str(&digits[(exp + 1) as usize..]);
            }
        } else {
            out.push_str("0.");
            out.push_str(&"0".repeat((-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    out
}

impl SynthConfig {
    /// Every knob out of its range, as `knob: problem` (empty when the knobs are usable).
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut out = vec![];
        let probs = [
            ("more_sketch_prob", self.more_sketch_prob),
            ("arc_prob", self.arc_prob),
            ("circle_prob", self.circle_prob),
            ("hole_prob", self.hole_prob),
            ("more_hole_prob", self.more_hole_prob),
            ("circle_hole_prob", self.circle_hole_prob),
            ("rotated_plane_prob", self.rotated_plane_prob),
            ("tilted_plane_prob", self.tilted_plane_prob),
            ("two_sided_prob", self.two_sided_prob),
        ];
        for (k, p) in probs {
            if !(0.0..=1.0).contains(&p) {
                out.push(format!("{k}: {p} is not a probability (0..=1)"));
            }
        }
        let o = &self.ops;
        if [o.union, o.cut, o.intersect].iter().any(|w| !(w.is_finite() && *w >= 0.0))
            || o.union + o.cut + o.intersect <= 0.0
        {
            out.push("ops: weights must be finite, >= 0 and not all 0".into());
        }
        for (k, [lo, hi], min) in [("sketches", self.sketches, 1), ("segments", self.segments, 3)] {
            if lo < min || lo > hi {
                out.push(format!("{k}: [{lo}, {hi}] must be a range [min, max] with min >= {min}"));
            }
        }
        if self.decimals > 15 {
            out.push(format!("decimals: {} is more than a float holds (0..=15)", self.decimals));
        }
        if !(self.fit.is_finite() && self.fit >= 0.0) {
            out.push(format!("fit: {} must be >= 0 (0 = off)", self.fit));
        }
        for (k, v) in [("min_volume", self.min_volume), ("min_extent", self.min_extent)] {
            if !(v.is_finite() && v >= 0.0) {
                out.push(format!("{k}: {v} must be >= 0"));
            }
        }
        out
    }
}

/// Why a generated program was rejected (for tuning), or the accepted solid with its
/// mass properties (volume, exact bounding box).
pub fn check(cfg: &SynthConfig, code: &str) -> Result<(Arc<Solid>, MassProps), String> {
    match execute_native(code, "solid") {
        Outcome::Valid(s) => {
            let m = mass_props(&s);
            let b = m.bbox;
            let ext = [b.max.x - b.min.x, b.max.y - b.min.y, b.max.z - b.min.z];
            if m.volume.is_nan() || m.volume <= cfg.min_volume {
                return Err(format!("volume {}", m.volume));
            }
            if ext.iter().any(|e| e.is_nan() || *e <= cfg.min_extent) {
                return Err(format!("degenerate bbox {ext:?}"));
            }
            if [b.min.x, b.min.y, b.min.z, b.max.x, b.max.y, b.max.z].iter().any(|v| v.abs() > 1.5) {
                return Err("outside [-1.5, 1.5]^3".into());
            }
            Ok((s, m))
        }
        o => Err(o.reason().unwrap_or_default()),
    }
}

/// `code` with every float literal (digits with a `.` or an exponent, not part of a
/// name) rounded to `decimals` places and written back as Python's repr (`0.619`,
/// `1.0`; a value that rounds to zero is `0.0`, keeping any sign outside it).
fn round_literals(code: &str, decimals: u32) -> String {
    let b = code.as_bytes();
    let scale = 10f64.powi(decimals.min(15) as i32);
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while i < b.len() {
        let in_name = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if !b[i].is_ascii_digit() || in_name {
            let ch = code[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8().max(1);
            continue;
        }
        let start = i;
        let mut float = false;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i < b.len() && b[i] == b'.' {
            float = true;
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            let mut j = i + 1;
            if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                j += 1;
            }
            if j < b.len() && b[j].is_ascii_digit() {
                float = true;
                i = j;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
        }
        let lit = &code[start..i];
        match lit.parse::<f64>() {
            Ok(x) if float && x.is_finite() => out.push_str(&py_repr((x * scale).round() / scale + 0.0)),
            _ => out.push_str(lit),
        }
    }
    out
}

/// Generate, validate and render sample `index` of `seed` (deterministic).
pub fn sample(cfg: &SynthConfig, seed: u64, index: u64) -> Option<SynthSample> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    for attempt in 0..cfg.max_attempts.max(1) {
        let replay = rng.clone();
        let mut code = generate_program(cfg, &mut rng);
        if cfg.fit > 0.0 {
            // Emit the same part again, centred and scaled by its exact bounding box.
            let Ok((_, m)) = check(cfg, &code) else { continue };
            let b = m.bbox;
            let side = (b.max.x - b.min.x).max(b.max.y - b.min.y).max(b.max.z - b.min.z);
            let centre = v3((b.min.x + b.max.x) / 2.0, (b.min.y + b.max.y) / 2.0, (b.min.z + b.max.z) / 2.0);
            code = generate_placed(cfg, &mut replay.clone(), &Placement { scale: cfg.fit / side, centre });
        }
        if cfg.decimals > 0 {
            code = round_literals(&code, cfg.decimals);
        }
        if let Ok((solid, MassProps { volume, .. })) = check(cfg, &code) {
            let image = cadrl_rewards::render::render(&solid);
            // A blank or nearly blank render teaches nothing.
            let ink = image.pixels().filter(|p| p.0 != [255, 255, 255]).count();
            if ink < 400 {
                continue;
            }
            return Some(SynthSample { index, code, solid, volume, image, rejected: attempt });
        }
    }
    None
}

/// Samples `start..start + n` of `seed`, in parallel (rayon), in index order.
pub fn generate(cfg: &SynthConfig, seed: u64, start: u64, n: u64) -> Vec<SynthSample> {
    (start..start + n).into_par_iter().filter_map(|i| sample(cfg, seed, i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cadrl_rewards::geom::exact_bbox;

    #[test]
    fn literals_round_to_decimals() {
        let code = "wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(-0.6796875, 3.749399456654644e-33, 1.0), x))\n\
                    loop0=wp_sketch0.moveTo(0.6186266447368421, 0.0).circle(0.6186266447368421)\n\
                    solid0=wp_sketch0.add(loop0).extrude(-1.5e-5, both=True)\n";
        let want = "wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(-0.68, 0.0, 1.0), x))\n\
                    loop0=wp_sketch0.moveTo(0.619, 0.0).circle(0.619)\n\
                    solid0=wp_sketch0.add(loop0).extrude(-0.0, both=True)\n";
        let got = round_literals(code, 3);
        assert_eq!(got, want);
        // names keep their digits; integers are left alone
        assert_eq!(round_literals("solid12=f(3, 2.26)", 1), "solid12=f(3, 2.3)");
    }

    #[test]
    fn rounded_synthetic_programs_stay_valid_and_short() {
        let cfg = SynthConfig { decimals: 3, ..SynthConfig::default() };
        let full = SynthConfig::default();
        let (mut short, mut long) = (0, 0);
        for i in 0..12 {
            let s = sample(&cfg, 7, i).expect("a valid rounded sample");
            assert!(check(&cfg, &s.code).is_ok());
            for lit in s.code.split(|c: char| !(c.is_ascii_digit() || c == '.')).filter(|t| t.contains('.')) {
                let frac = lit.split('.').nth(1).unwrap_or("");
                assert!(frac.len() <= 3, "{lit} in\n{}", s.code);
            }
            short += s.code.len();
            long += sample(&full, 7, i).expect("a valid sample").code.len();
        }
        assert!(short * 10 < long * 8, "rounded programs are shorter: {short} vs {long} bytes");
    }

    #[test]
    fn fitted_parts_are_the_same_parts_centred_and_scaled() {
        let free = SynthConfig::default();
        let fit = SynthConfig { fit: 1.5, ..SynthConfig::default() };
        for i in 0..10 {
            let (a, b) =
                (sample(&free, 3, i).expect("a sample"), sample(&fit, 3, i).expect("a fitted sample"));
            let (ba, bb) = (exact_bbox(&a.solid), exact_bbox(&b.solid));
            let side = |x: &cadrl_rewards::geom::vec::Aabb| {
                [x.max.x - x.min.x, x.max.y - x.min.y, x.max.z - x.min.z]
            };
            let (sa, sb) = (side(&ba), side(&bb));
            let longest = sb.iter().cloned().fold(0.0, f64::max);
            assert!((longest - 1.5).abs() < 1e-9, "sample {i}: longest side {longest}\n{}", b.code);
            for c in [bb.min.x + bb.max.x, bb.min.y + bb.max.y, bb.min.z + bb.max.z] {
                assert!(c.abs() < 1e-9, "sample {i}: not centred\n{}", b.code);
            }
            let k = 1.5 / sa.iter().cloned().fold(0.0, f64::max);
            for (x, y) in sa.iter().zip(&sb) {
                assert!((x * k - y).abs() < 1e-9, "sample {i}: proportions {sa:?} vs {sb:?}");
            }
            assert!((a.volume * k.powi(3) - b.volume).abs() < 1e-6 * b.volume, "sample {i}: volume");
        }
    }

    #[test]
    fn knobs_out_of_range_are_named() {
        assert!(SynthConfig::default().problems().is_empty());
        let bad = SynthConfig {
            arc_prob: 1.5,
            segments: [5, 4],
            fit: -1.0,
            decimals: 20,
            ..SynthConfig::default()
        };
        let p = bad.problems().join("\n");
        for k in ["arc_prob", "segments", "fit", "decimals"] {
            assert!(p.contains(k), "{k} not named in\n{p}");
        }
    }

    #[test]
    fn unknown_knobs_are_rejected() {
        let e = serde_json::from_value::<SynthConfig>(serde_json::json!({"arc_prob": 0.1, "arcs_prob": 0.2}))
            .expect_err("a misspelt knob");
        assert!(e.to_string().contains("arcs_prob"), "{e}");
        assert!(serde_json::from_value::<SynthConfig>(serde_json::json!({"ops": {"unoin": 1.0}})).is_err());
    }

    #[test]
    fn repr_matches_python() {
        for (x, s) in [
            (0.546875, "0.546875"),
            (1.0421052631578949, "1.0421052631578949"),
            (6.123233995736766e-17, "6.123233995736766e-17"),
            (1.0, "1.0"),
            (-0.75, "-0.75"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e16, "1e+16"),
            (123456789012345.0, "123456789012345.0"),
            (0.7312500000000001, "0.7312500000000001"),
            (-0.0, "-0.0"),
        ] {
            assert_eq!(py_repr(x), s);
        }
    }

    #[test]
    fn generated_programs_are_mostly_valid() {
        let cfg = SynthConfig::default();
        let mut ok = 0;
        let mut why = std::collections::BTreeMap::<String, usize>::new();
        for i in 0..200u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            rng.set_stream(i);
            let code = generate_program(&cfg, &mut rng);
            match check(&cfg, &code) {
                Ok(_) => ok += 1,
                Err(e) => *why.entry(e.chars().take(60).collect()).or_default() += 1,
            }
        }
        assert!(ok >= 180, "{ok}/200 valid; {why:#?}");
    }
}
