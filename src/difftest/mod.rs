//! Differential testing of the native executor against real CadQuery (`cadrl difftest`).
//!
//! Each case is a pair (reference, candidate) drawn from seed `s`, stream `i`:
//! - a synthetic program from [`crate::data::synth`] with wide knobs (up to 6 sketches,
//!   many intersections, tilted planes, two-sided extrusions, holes) and its candidate
//!   with numbers scaled by 0.85-1.15 (a near miss, as a model writes);
//! - a real program (the fixtures) or a synthetic one, and its candidate with one to
//!   three [`mutate`] mutations (extreme numbers, swapped or empty booleans, dropped or
//!   duplicated lines, crossing loops, odd plane vectors).
//!
//! Every distinct program runs through the native executor and the sandboxed OCCT
//! executor (real CadQuery 2.8). A program *disagrees* when the outcome kinds differ,
//! or both are valid and the volume differs by more than 1e-3 (relative), the bounding
//! box by more than 2e-3 of its diagonal, or their IoU is below 0.995; native's
//! `unsupported` is its honest "I do not model this" and is counted, not a
//! disagreement. A pair disagrees when both programs are valid under both executors
//! and the two IoUs differ by more than 0.005. Each disagreement is shrunk (greedy line
//! removal, re-run through both executors) to a minimal program that still shows the
//! same class, for the first few of each class; findings are grouped by class and the
//! minimal program's call signature. OCCT crashes and time-outs are outcomes, not
//! failures of the run: the tester never stops on a program.
//!
//! Output in `--out`: `findings.jsonl` (one line a disagreement, appended as found),
//! `summary.json` and `summary.md` (rewritten atomically after every batch).

pub(crate) mod mutate;
mod shrink;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cadrl_rewards::exec::{Executor, NativeExecutor, Outcome};
use cadrl_rewards::geom::{exact_bbox, mass_props};
use cadrl_rewards::metrics::{IouMode, iou};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::data::synth::{OpMix, SynthConfig, generate_program};
use crate::pipeline::rundir::write_atomic;

/// Settings of one differential run.
#[derive(Clone, Debug)]
pub(crate) struct DiffOptions {
    pub(crate) seed: u64,
    /// Stop after this many cases (pairs)...
    pub(crate) count: Option<u64>,
    /// ...or after this long, whichever comes first (one of them must be set).
    pub(crate) duration: Option<Duration>,
    /// Cases per batch sent to the executors at once.
    pub(crate) batch: usize,
    /// Findings shrunk per class (the rest are counted under their class).
    pub(crate) shrink_per_class: usize,
    /// Real programs to mutate: (id, code).
    pub(crate) fixtures: Vec<(String, String)>,
    /// Where `findings.jsonl` and the summaries go.
    pub(crate) out: PathBuf,
}

/// One drawn case.
#[derive(Clone, Debug)]
pub(crate) struct Case {
    pub(crate) index: u64,
    pub(crate) source: String,
    pub(crate) mutations: Vec<&'static str>,
    pub(crate) reference: String,
    pub(crate) candidate: String,
}

/// Wide synthetic knobs, drawn per case.
fn wide_config(rng: &mut ChaCha8Rng) -> SynthConfig {
    let u = rng.random::<f64>();
    SynthConfig {
        sketches: [1, 6],
        more_sketch_prob: 0.3 + 0.5 * u,
        arc_prob: 0.6,
        circle_prob: 0.2,
        hole_prob: 0.5,
        ops: OpMix { union: 0.4, cut: 0.35, intersect: 0.25 },
        rotated_plane_prob: 0.5,
        tilted_plane_prob: 0.3,
        two_sided_prob: 0.3,
        ..SynthConfig::default()
    }
}

/// Case `i` of seed `seed` (deterministic).
pub(crate) fn make_case(seed: u64, i: u64, fixtures: &[(String, String)]) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(i);
    let r = rng.random::<f64>();
    let synth = |rng: &mut ChaCha8Rng| {
        let cfg = wide_config(rng);
        generate_program(&cfg, rng)
    };
    if r < 0.35 {
        let reference = synth(&mut rng);
        let candidate = mutate::scale_numbers(&reference, &mut rng, 1.0, 0.85, 1.15);
        return Case { index: i, source: "synth".into(), mutations: vec!["near_miss"], reference, candidate };
    }
    let (source, reference) = if r < 0.7 && !fixtures.is_empty() {
        let (id, code) = &fixtures[rng.random_range(0..fixtures.len())];
        (format!("fixture {id}"), code.clone())
    } else {
        ("synth".to_string(), synth(&mut rng))
    };
    let (candidate, mutations) = mutate::mutate(&reference, &mut rng);
    Case { index: i, source, mutations, reference, candidate }
}

/// What one program's two outcomes say.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Verdict {
    Agree,
    /// Native does not model something (its construct): counted, not a disagreement.
    NativeUnsupported(String),
    Differ {
        class: String,
        detail: String,
    },
}

fn reason(o: &Outcome) -> String {
    o.reason().unwrap_or_default().chars().take(300).collect()
}

/// Compare one program's native and OCCT outcomes.
pub(crate) fn compare(native: &Outcome, occt: &Outcome) -> Verdict {
    if let Outcome::Unsupported { construct, .. } = native {
        return Verdict::NativeUnsupported(construct.clone());
    }
    let (n, o) = match (native.solid(), occt.solid()) {
        (Some(n), Some(o)) => (n, o),
        _ => {
            if native.kind() == occt.kind() {
                return Verdict::Agree;
            }
            let okind = match occt {
                Outcome::Unsupported { construct, .. } if construct.contains("not watertight") => {
                    "unsupported(not watertight)"
                }
                Outcome::ExecError(d)
                    if d.message.contains("not a valid solid")
                        || d.message.contains("solid is not valid") =>
                {
                    "exec_error(invalid solid)"
                }
                o => o.kind(),
            };
            return Verdict::Differ {
                class: format!("kind: native {} / occt {okind}", native.kind()),
                detail: format!("native: {} | occt: {}", reason(native), reason(occt)),
            };
        }
    };
    let nm = mass_props(n);
    let (ov, obox) = match o.meshes.first() {
        Some(m) => (m.brep.map_or_else(|| m.volume(), |b| b.volume), m.aabb),
        None => (mass_props(o).volume, exact_bbox(o)),
    };
    let rel = (nm.volume - ov).abs() / ov.abs().max(1e-12);
    if rel > 1e-3 {
        return Verdict::Differ {
            class: "volume".into(),
            detail: format!("native {:.6} occt {:.6} (relative {rel:.2e})", nm.volume, ov),
        };
    }
    let nb = nm.bbox;
    let tol = 2e-3 * obox.diagonal().max(1e-9);
    let off = (0..3)
        .map(|k| (nb.min.get(k) - obox.min.get(k)).abs().max((nb.max.get(k) - obox.max.get(k)).abs()))
        .fold(0.0, f64::max);
    if off > tol {
        return Verdict::Differ {
            class: "bbox".into(),
            detail: format!("native {:?}..{:?} occt {:?}..{:?}", nb.min, nb.max, obox.min, obox.max),
        };
    }
    let j = iou(n, o, IouMode::InPlace);
    if j < 0.995 {
        return Verdict::Differ { class: "iou".into(), detail: format!("IoU(native, occt) {j:.5}") };
    }
    Verdict::Agree
}

/// One disagreement (a line of `findings.jsonl`).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Finding {
    pub(crate) case: u64,
    pub(crate) source: String,
    pub(crate) mutations: Vec<&'static str>,
    /// `reference` or `candidate` for one program; `pair` for an IoU disagreement.
    pub(crate) role: &'static str,
    pub(crate) class: String,
    pub(crate) detail: String,
    /// The minimal program (shrunk for the first findings of a class, else `None`).
    pub(crate) minimal: Option<String>,
    pub(crate) signature: Option<String>,
    pub(crate) program: String,
    /// The reference, for pair findings.
    pub(crate) reference: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Group {
    pub(crate) count: usize,
    pub(crate) example: String,
    pub(crate) detail: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct ClassSummary {
    pub(crate) count: usize,
    /// By the minimal program's signature (shrunk findings only).
    pub(crate) groups: BTreeMap<String, Group>,
}

/// Pairs valid under both executors: how far the two IoUs are apart.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct PairStats {
    pub(crate) n: usize,
    pub(crate) mean_abs_diff: f64,
    pub(crate) max_abs_diff: f64,
    pub(crate) over_0_005: usize,
    pub(crate) over_0_02: usize,
}

/// `summary.json`.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Summary {
    pub(crate) seed: u64,
    pub(crate) cases: u64,
    /// Distinct programs run through both executors.
    pub(crate) programs: usize,
    pub(crate) elapsed_s: f64,
    /// Programs by (native kind, occt kind).
    pub(crate) outcomes: BTreeMap<String, usize>,
    /// Programs that disagree (all classes).
    pub(crate) disagreeing: usize,
    pub(crate) disagreement_rate: f64,
    pub(crate) classes: BTreeMap<String, ClassSummary>,
    /// Native `unsupported` programs by construct (digits dropped).
    pub(crate) native_unsupported: BTreeMap<String, usize>,
    pub(crate) pairs: PairStats,
    /// Batches the OCCT executor failed as a whole (infrastructure), skipped.
    pub(crate) executor_failures: usize,
    #[serde(skip)]
    sum_abs_diff: f64,
}

impl Summary {
    fn markdown(&self) -> String {
        let mut s = format!(
            "Differential test, seed {}: {} cases, {} distinct programs in {:.0} s; {} disagree ({:.2} %).\n\n",
            self.seed,
            self.cases,
            self.programs,
            self.elapsed_s,
            self.disagreeing,
            100.0 * self.disagreement_rate
        );
        s += &format!(
            "Pairs valid under both: {}; mean |IoU native - IoU occt| {:.5}, max {:.5}; {} over 0.005, {} over 0.02.\n\n",
            self.pairs.n,
            self.pairs.mean_abs_diff,
            self.pairs.max_abs_diff,
            self.pairs.over_0_005,
            self.pairs.over_0_02
        );
        s += "| class | programs | rate |\n| --- | ---: | ---: |\n";
        for (k, c) in &self.classes {
            s += &format!(
                "| {k} | {} | {:.3} % |\n",
                c.count,
                100.0 * c.count as f64 / self.programs.max(1) as f64
            );
        }
        s += "\n| native unsupported | programs |\n| --- | ---: |\n";
        for (k, n) in &self.native_unsupported {
            s += &format!("| {} | {n} |\n", k.replace('|', "\\|"));
        }
        for (k, c) in &self.classes {
            for (sig, g) in &c.groups {
                s += &format!(
                    "\n### {k}: `{sig}` ({} shrunk)\n{}\n```python\n{}```\n",
                    g.count,
                    g.detail.replace('\n', " "),
                    g.example
                );
            }
        }
        s
    }
}

/// A construct with its numbers replaced by `#` (so that constructs group), at most 80
/// characters: `a sketch with 1200 edges (more than 1000)` -> `a sketch with # edges (more than #)`.
fn numbers_as_hash(c: &str) -> String {
    let edits: Vec<(usize, usize, String)> =
        mutate::number_spans(c).into_iter().map(|(a, b)| (a, b, "#".to_string())).collect();
    mutate::replace_spans(c, &edits).chars().take(80).collect()
}

/// Run both executors on programs and classify each (`None` = agree or native unsupported).
fn classify_all(occt: &dyn Executor, progs: &[String]) -> Result<Vec<(Outcome, Outcome, Verdict)>> {
    let refs: Vec<&str> = progs.iter().map(String::as_str).collect();
    let nat = NativeExecutor.execute(&refs, "solid").map_err(|e| anyhow::anyhow!("native executor: {e}"))?;
    let occ = occt.execute(&refs, "solid").map_err(|e| anyhow::anyhow!("occt executor: {e}"))?;
    use rayon::prelude::*;
    let verdicts: Vec<Verdict> = nat.par_iter().zip(occ.par_iter()).map(|(n, o)| compare(n, o)).collect();
    Ok(nat.into_iter().zip(occ).zip(verdicts).map(|((n, o), v)| (n, o, v)).collect())
}

fn class_of(v: &Verdict) -> Option<String> {
    match v {
        Verdict::Differ { class, .. } => Some(class.clone()),
        _ => None,
    }
}

/// Run the differential test; returns the summary (also written to `o.out`).
pub(crate) fn run(
    o: &DiffOptions,
    occt: &dyn Executor,
    mut progress: impl FnMut(&Summary),
) -> Result<Summary> {
    anyhow::ensure!(o.count.is_some() || o.duration.is_some(), "give a count or a duration");
    std::fs::create_dir_all(&o.out).with_context(|| format!("creating {}", o.out.display()))?;
    let fpath = o.out.join("findings.jsonl");
    let mut findings = std::io::BufWriter::new(
        std::fs::File::create(&fpath).with_context(|| format!("creating {}", fpath.display()))?,
    );
    let start = Instant::now();
    let mut sum = Summary { seed: o.seed, ..Summary::default() };
    // programs already run, by a 64-bit hash of their text (hours of cases stay small)
    let mut seen: HashSet<u64> = HashSet::new();
    let hash = |p: &str| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        p.hash(&mut h);
        h.finish()
    };
    let mut next = 0u64;
    let mut failures_in_a_row = 0;
    loop {
        let left = o.count.map_or(u64::MAX, |c| c.saturating_sub(next));
        if left == 0 || o.duration.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
        let cases: Vec<Case> = (next..next + left.min(o.batch.max(1) as u64))
            .map(|i| make_case(o.seed, i, &o.fixtures))
            .collect();
        next += cases.len() as u64;
        // distinct programs of the batch, first seen first
        let mut progs: Vec<String> = Vec::new();
        let mut owner: Vec<(usize, &'static str)> = Vec::new();
        for (ci, c) in cases.iter().enumerate() {
            for (role, p) in [("reference", &c.reference), ("candidate", &c.candidate)] {
                if seen.insert(hash(p)) {
                    progs.push(p.clone());
                    owner.push((ci, role));
                }
            }
        }
        let all: Vec<String> =
            cases.iter().flat_map(|c| [c.reference.clone(), c.candidate.clone()]).collect();
        let outs = match classify_all(occt, &all) {
            Ok(v) => {
                failures_in_a_row = 0;
                v
            }
            Err(e) => {
                eprintln!("difftest: batch from case {} skipped: {e:#}", cases[0].index);
                sum.executor_failures += 1;
                failures_in_a_row += 1;
                anyhow::ensure!(failures_in_a_row < 3, "the executors failed three batches in a row: {e:#}");
                continue;
            }
        };
        let by_prog: std::collections::HashMap<&str, usize> =
            all.iter().enumerate().map(|(k, p)| (p.as_str(), k)).collect();
        for (p, (ci, role)) in progs.iter().zip(&owner) {
            let (n, oc, v) = &outs[by_prog[p.as_str()]];
            sum.programs += 1;
            *sum.outcomes.entry(format!("native {} / occt {}", n.kind(), oc.kind())).or_default() += 1;
            match v {
                Verdict::Agree => {}
                Verdict::NativeUnsupported(c) => {
                    let key = numbers_as_hash(c);
                    *sum.native_unsupported.entry(key).or_default() += 1;
                }
                Verdict::Differ { class, detail } => {
                    sum.disagreeing += 1;
                    let cs = sum.classes.entry(class.clone()).or_default();
                    cs.count += 1;
                    let shrunk_so_far: usize = cs.groups.values().map(|g| g.count).sum();
                    let minimal = (shrunk_so_far < o.shrink_per_class).then(|| {
                        let mut classify = |ps: &[String]| -> Vec<Option<String>> {
                            classify_all(occt, ps)
                                .map(|v| v.iter().map(|(_, _, v)| class_of(v)).collect())
                                .unwrap_or_else(|_| vec![None; ps.len()])
                        };
                        shrink::shrink(p, class, 40, &mut classify)
                    });
                    let signature = minimal.as_deref().map(shrink::signature);
                    if let (Some(m), Some(sig)) = (&minimal, &signature) {
                        let g = cs.groups.entry(sig.clone()).or_default();
                        if g.count == 0 || m.len() < g.example.len() {
                            g.example = m.clone();
                            g.detail = detail.clone();
                        }
                        g.count += 1;
                    }
                    let c = &cases[*ci];
                    let f = Finding {
                        case: c.index,
                        source: c.source.clone(),
                        mutations: c.mutations.clone(),
                        role,
                        class: class.clone(),
                        detail: detail.clone(),
                        minimal,
                        signature,
                        program: p.clone(),
                        reference: None,
                    };
                    writeln!(findings, "{}", serde_json::to_string(&f)?)?;
                }
            }
        }
        // pairs: both programs valid under both executors
        for (ci, c) in cases.iter().enumerate() {
            let (a, b) = (&outs[2 * ci], &outs[2 * ci + 1]);
            let (Some(na), Some(nb), Some(oa), Some(ob)) =
                (a.0.solid(), b.0.solid(), a.1.solid(), b.1.solid())
            else {
                continue;
            };
            let d = (iou(nb, na, IouMode::InPlace) - iou(ob, oa, IouMode::InPlace)).abs();
            let ps = &mut sum.pairs;
            ps.n += 1;
            sum.sum_abs_diff += d;
            ps.mean_abs_diff = sum.sum_abs_diff / ps.n as f64;
            ps.max_abs_diff = ps.max_abs_diff.max(d);
            ps.over_0_005 += usize::from(d > 0.005);
            ps.over_0_02 += usize::from(d > 0.02);
            if d > 0.005 {
                let f = Finding {
                    case: c.index,
                    source: c.source.clone(),
                    mutations: c.mutations.clone(),
                    role: "pair",
                    class: "pair iou".into(),
                    detail: format!("|IoU native - IoU occt| = {d:.4}"),
                    minimal: None,
                    signature: None,
                    program: c.candidate.clone(),
                    reference: Some(c.reference.clone()),
                };
                writeln!(findings, "{}", serde_json::to_string(&f)?)?;
            }
        }
        findings.flush()?;
        sum.cases = next;
        sum.elapsed_s = start.elapsed().as_secs_f64();
        sum.disagreement_rate = sum.disagreeing as f64 / sum.programs.max(1) as f64;
        write_atomic(&o.out.join("summary.json"), serde_json::to_string_pretty(&sum)?.as_bytes())?;
        write_atomic(&o.out.join("summary.md"), sum.markdown().as_bytes())?;
        progress(&sum);
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_are_deterministic_and_varied() {
        let fx = vec![(
            "f".to_string(),
            "import cadquery as cq\nsolid=cq.Workplane('XY').box(1, 1, 1)\n".to_string(),
        )];
        let a: Vec<Case> = (0..40).map(|i| make_case(3, i, &fx)).collect();
        let b: Vec<Case> = (0..40).map(|i| make_case(3, i, &fx)).collect();
        assert!(a.iter().zip(&b).all(|(x, y)| x.candidate == y.candidate && x.reference == y.reference));
        assert!(a.iter().any(|c| c.source.starts_with("fixture")));
        assert!(a.iter().any(|c| c.source == "synth" && c.mutations != ["near_miss"]));
        assert!(a.iter().any(|c| c.mutations == ["near_miss"]));
        let distinct: HashSet<&String> = a.iter().map(|c| &c.candidate).collect();
        assert!(distinct.len() > 30, "{}", distinct.len());
    }

    #[test]
    fn constructs_group_without_their_numbers() {
        assert_eq!(
            numbers_as_hash("a sketch with 1200 edges (more than 1000)"),
            "a sketch with # edges (more than #)"
        );
        assert_eq!(numbers_as_hash("a circle of radius below 1e-6"), "a circle of radius below #");
        assert_eq!(numbers_as_hash("Workplane.fillet2d()"), "Workplane.fillet2d()");
    }

    #[test]
    fn native_unsupported_is_not_a_disagreement() {
        let n = Outcome::Unsupported { construct: "x".into(), line: None };
        let o =
            Outcome::SyntaxError(cadrl_rewards::exec::Diag { message: String::new(), line: None, col: None });
        assert_eq!(compare(&n, &o), Verdict::NativeUnsupported("x".into()));
        assert!(matches!(compare(&o, &n), Verdict::Differ { .. }));
        assert_eq!(compare(&o, &o.clone()), Verdict::Agree);
    }
}
