//! Data: samples, the loaders, the synthetic GenCAD-style generator and per-data-set
//! statistics.
//!
//! A data set is either JSONL in the GenCAD-Code fixture layout ([`jsonl`]: one JSON
//! object a line with `id`, `image` (a PNG path relative to the JSONL file), `code` (or
//! `cadquery`) and an optional `prompt`) or GenCAD-Code's parquet shards (local, in the
//! Hugging Face cache or downloaded, see [`hub`]); [`source::open`] reads either.

pub(crate) mod gencad;
pub(crate) mod gencad_write;
pub mod hub;
pub mod jsonl;
pub mod source;
pub(crate) mod subset;
pub mod synth;

use cadrl_rewards::exec::execute_native;
use cadrl_rewards::geom::mass_props;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// GenCAD-Code's fixed instruction, used when a row has no `prompt` and as `[model].prompt`'s
/// default. Written once, at the backend boundary ([`cadrl_backend::DEFAULT_PROMPT`], the
/// prompt when none is given), so data, recipes and generation cannot drift apart.
pub use cadrl_backend::DEFAULT_PROMPT as GENCAD_PROMPT;

/// One training example: a render and the program that made it.
#[derive(Clone, Debug)]
pub struct Sample {
    /// The row's id (unique within a data set; names images and log entries).
    pub id: String,
    /// The decoded render (RGB).
    pub image: image::RgbImage,
    /// The instruction shown with the image ([`GENCAD_PROMPT`] when the row has none).
    pub prompt: String,
    /// The reference CadQuery program (binds the result to `solid` in GenCAD-Code).
    pub code: String,
}

/// The API calls counted per program by [`program_stats`] and `cadrl data stats`.
pub(crate) const METHODS: [&str; 13] = [
    "moveTo",
    "lineTo",
    "threePointArc",
    "circle",
    "close",
    "add",
    "extrude",
    "union",
    "cut",
    "intersect",
    "Workplane",
    "Plane",
    "Vector",
];

/// Text-level statistics of one program.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ProgramStats {
    /// Occurrences of `.name(` for each of [`METHODS`] (`cq.Workplane(` counts as a
    /// `Workplane` call).
    pub(crate) calls: [usize; METHODS.len()],
    /// Sketches: distinct variables bound to `cq.Workplane(...)` (GenCAD's
    /// `wp_sketchN`; a two-sided extrude that rebuilds `wp_sketchN` counts once), or
    /// the number of `Workplane` calls when no such binding is found.
    pub(crate) sketches: usize,
    /// Characters (Unicode scalar values) of the program text.
    pub(crate) chars: usize,
}

/// Count the API calls, sketches and characters of a program.
pub(crate) fn program_stats(code: &str) -> ProgramStats {
    let mut calls = [0usize; METHODS.len()];
    for (i, m) in METHODS.iter().enumerate() {
        let pat = format!(".{m}(");
        calls[i] = code.matches(pat.as_str()).count();
    }
    let mut names: Vec<&str> = Vec::new();
    for line in code.lines() {
        if let Some((lhs, rhs)) = line.split_once('=') {
            let (lhs, rhs) = (lhs.trim(), rhs.trim_start());
            let ident = !lhs.is_empty() && lhs.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if ident && rhs.starts_with("cq.Workplane(") && !names.contains(&lhs) {
                names.push(lhs);
            }
        }
    }
    let sketches = if names.is_empty() { calls[10] } else { names.len() };
    ProgramStats { calls, sketches, chars: code.chars().count() }
}

/// Characters per token assumed by the token estimate (a rough figure for code with
/// long float literals under a BPE tokenizer; no tokenizer is run).
pub(crate) const CHARS_PER_TOKEN: f64 = 3.5;

/// Aggregate statistics of a set of programs (what `cadrl data stats` prints).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct DatasetStats {
    /// Programs in the set.
    pub(crate) programs: usize,
    /// Programs whose native execution gives a solid.
    pub(crate) valid: usize,
    /// `valid / programs`.
    pub(crate) valid_rate: f64,
    /// Mean [`ProgramStats::sketches`] per program.
    pub(crate) sketches_mean: f64,
    /// Median [`ProgramStats::sketches`] per program.
    pub(crate) sketches_median: f64,
    /// Mean calls per program, in the order of [`METHODS`].
    pub(crate) calls_mean: Vec<(String, f64)>,
    /// Mean characters per program.
    pub(crate) chars_mean: f64,
    /// `chars_mean / CHARS_PER_TOKEN`.
    pub(crate) tokens_mean: f64,
    /// Mean bounding-box size (x, y, z) over the valid programs.
    pub(crate) extent_mean: [f64; 3],
    /// Mean solid volume over the valid programs (model units cubed).
    pub(crate) volume_mean: f64,
}

impl DatasetStats {
    /// Mean calls per program of `method` (0 when unknown).
    pub(crate) fn calls(&self, method: &str) -> f64 {
        self.calls_mean.iter().find(|(m, _)| m == method).map_or(0.0, |(_, v)| *v)
    }
}

/// Statistics of `codes`, executing each natively (in parallel) for validity and
/// extents.
pub(crate) fn dataset_stats(codes: &[String]) -> DatasetStats {
    let n = codes.len();
    // Per program: text statistics, and (bbox size, volume) when it runs.
    type Geo = Option<([f64; 3], f64)>;
    let per: Vec<(ProgramStats, Geo)> = codes
        .par_iter()
        .map(|c| {
            let geo = execute_native(c, "solid").solid().map(|s| {
                let m = mass_props(s);
                let b = m.bbox;
                ([b.max.x - b.min.x, b.max.y - b.min.y, b.max.z - b.min.z], m.volume)
            });
            (program_stats(c), geo)
        })
        .collect();
    let nf = n.max(1) as f64;
    let mut calls = [0f64; METHODS.len()];
    let mut sk: Vec<usize> = Vec::with_capacity(n);
    let (mut chars, mut ext, mut vol, mut valid) = (0f64, [0f64; 3], 0f64, 0usize);
    for (p, g) in &per {
        for (a, c) in calls.iter_mut().zip(p.calls) {
            *a += c as f64;
        }
        sk.push(p.sketches);
        chars += p.chars as f64;
        if let Some((e, v)) = g {
            valid += 1;
            for k in 0..3 {
                ext[k] += e[k];
            }
            vol += v;
        }
    }
    sk.sort_unstable();
    let median = match n {
        0 => 0.0,
        _ if n % 2 == 1 => sk[n / 2] as f64,
        _ => 0.5 * (sk[n / 2 - 1] + sk[n / 2]) as f64,
    };
    let vf = valid.max(1) as f64;
    DatasetStats {
        programs: n,
        valid,
        valid_rate: valid as f64 / nf,
        sketches_mean: sk.iter().sum::<usize>() as f64 / nf,
        sketches_median: median,
        calls_mean: METHODS.iter().zip(calls).map(|(m, c)| (m.to_string(), c / nf)).collect(),
        chars_mean: chars / nf,
        tokens_mean: chars / nf / CHARS_PER_TOKEN,
        extent_mean: ext.map(|e| e / vf),
        volume_mean: vol / vf,
    }
}

/// A markdown table with one column per named data set.
pub(crate) fn stats_markdown(cols: &[(String, DatasetStats)]) -> String {
    let mut out = String::new();
    out.push_str("| metric |");
    for (name, _) in cols {
        out.push_str(&format!(" {name} |"));
    }
    out.push_str("\n| --- |");
    for _ in cols {
        out.push_str(" ---: |");
    }
    out.push('\n');
    let mut row = |label: &str, f: &dyn Fn(&DatasetStats) -> String| {
        out.push_str(&format!("| {label} |"));
        for (_, s) in cols {
            out.push_str(&format!(" {} |", f(s)));
        }
        out.push('\n');
    };
    row("programs", &|s| s.programs.to_string());
    row("valid rate (native)", &|s| format!("{:.3}", s.valid_rate));
    row("sketches / program (mean)", &|s| format!("{:.2}", s.sketches_mean));
    row("sketches / program (median)", &|s| format!("{:.1}", s.sketches_median));
    for m in METHODS {
        row(&format!("`{m}` / program"), &|s| format!("{:.2}", s.calls(m)));
    }
    row("chars / program", &|s| format!("{:.0}", s.chars_mean));
    row("tokens / program (chars / 3.5)", &|s| format!("{:.0}", s.tokens_mean));
    row("mean bbox size x", &|s| format!("{:.3}", s.extent_mean[0]));
    row("mean bbox size y", &|s| format!("{:.3}", s.extent_mean[1]));
    row("mean bbox size z", &|s| format!("{:.3}", s.extent_mean[2]));
    row("mean volume", &|s| format!("{:.4}", s.volume_mean));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_calls_and_sketches() {
        let code = "import cadquery as cq\nwp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(0.0, 0.0, 0.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))\nloop0=wp_sketch0.moveTo(1.0, 0.0).lineTo(1.0, 1.0).lineTo(0.0, 0.0).close()\nsolid0=wp_sketch0.add(loop0).extrude(0.5)\nsolid=solid0\nwp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(0.0, 0.0, 0.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))\n";
        let s = program_stats(code);
        assert_eq!(s.sketches, 1);
        assert_eq!(s.calls[1], 2);
        assert_eq!(s.calls[10], 2);
        assert_eq!(s.calls[12], 6);
    }
}
