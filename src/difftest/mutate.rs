//! Mutations of CadQuery programs, of the kinds a model under training writes: numbers
//! scaled or pushed to extremes, booleans swapped, lines dropped or duplicated, booleans
//! that leave nothing or miss the part, sketch loops that cross, sketch planes whose
//! vectors are not unit or not orthogonal. All work on the program text, line by line
//! (the GenCAD-Code style has one statement a line), and keep it valid Python.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::data::synth::py_repr;

/// Every mutation, by name (the names go into the findings).
pub(crate) const MUTATIONS: [&str; 9] = [
    "scale",
    "extreme_number",
    "swap_op",
    "drop_line",
    "dup_line",
    "empty_boolean",
    "empty_operand",
    "crossing_loop",
    "odd_plane",
];

/// A solid far from every part (GenCAD-Code parts lie in [-0.75, 0.75]^3).
const FAR: &str = "cq.Workplane(cq.Plane(cq.Vector(9.0, 9.0, 9.0), cq.Vector(1.0, 0.0, 0.0), \
                   cq.Vector(0.0, 0.0, 1.0))).rect(0.5, 0.5).extrude(0.5)";

/// Apply one to three random mutations; returns the program and the names applied
/// (a mutation that finds nothing to act on is skipped).
pub(crate) fn mutate(code: &str, rng: &mut ChaCha8Rng) -> (String, Vec<&'static str>) {
    let mut out = code.to_string();
    let mut applied = Vec::new();
    for _ in 0..rng.random_range(1..=3) {
        let name = MUTATIONS[rng.random_range(0..MUTATIONS.len())];
        if let Some(next) = apply(name, &out, rng) {
            out = next;
            applied.push(name);
        }
    }
    (out, applied)
}

/// One named mutation; `None` when the program has nothing it can act on.
pub(crate) fn apply(name: &str, code: &str, rng: &mut ChaCha8Rng) -> Option<String> {
    match name {
        "scale" => Some(scale_numbers(code, rng, 0.3, 0.6, 1.5)),
        "extreme_number" => extreme_number(code, rng),
        "swap_op" => swap_op(code, rng),
        "drop_line" => edit_line(code, rng, |_, _| None),
        "dup_line" => edit_line(code, rng, |l, _| Some(format!("{l}\n{l}"))),
        "empty_boolean" => empty_boolean(code, rng),
        "empty_operand" => empty_operand(code, rng),
        "crossing_loop" => crossing_loop(code, rng),
        "odd_plane" => odd_plane(code, rng),
        _ => None,
    }
}

/// Byte spans of the numeric literals (unsigned; `1e-05`, `0.5`, `3`), skipping digits
/// inside names (`solid1`, `wp_sketch0`).
pub(crate) fn number_spans(s: &str) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let prev_ident = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b'.');
        let starts = c.is_ascii_digit() || (c == b'.' && i + 1 < b.len() && b[i + 1].is_ascii_digit());
        if !starts || prev_ident {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
            i += 1;
        }
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            let mut j = i + 1;
            if j < b.len() && (b[j] == b'-' || b[j] == b'+') {
                j += 1;
            }
            if j < b.len() && b[j].is_ascii_digit() {
                i = j;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
        }
        // a name right after a number (`1abc`) is not Python; leave it
        if i < b.len() && (b[i].is_ascii_alphabetic() || b[i] == b'_') {
            continue;
        }
        out.push((start, i));
    }
    out
}

/// `s` with each span `(a, b)` replaced by its text (spans in order, not overlapping).
pub(crate) fn replace_spans(s: &str, edits: &[(usize, usize, String)]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for (a, b, t) in edits {
        out.push_str(&s[at..*a]);
        out.push_str(t);
        at = *b;
    }
    out.push_str(&s[at..]);
    out
}

fn format_like(old: &str, x: f64) -> String {
    let int = !old.contains(['.', 'e', 'E']);
    if int { format!("{}", x.round().abs() as i64) } else { py_repr(x) }
}

/// Multiply each number (with probability `p`) by a factor in [lo, hi].
pub(crate) fn scale_numbers(code: &str, rng: &mut ChaCha8Rng, p: f64, lo: f64, hi: f64) -> String {
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for (a, b) in number_spans(code) {
        if rng.random::<f64>() >= p {
            continue;
        }
        if let Ok(v) = code[a..b].parse::<f64>() {
            edits.push((a, b, format_like(&code[a..b], v * (lo + (hi - lo) * rng.random::<f64>()))));
        }
    }
    replace_spans(code, &edits)
}

fn extreme_number(code: &str, rng: &mut ChaCha8Rng) -> Option<String> {
    let spans = number_spans(code);
    if spans.is_empty() {
        return None;
    }
    let (a, b) = spans[rng.random_range(0..spans.len())];
    let v: f64 = code[a..b].parse().ok()?;
    let x = match rng.random_range(0..5) {
        0 => 0.0,
        1 => 1e-9,
        2 => v * 1e-4,
        3 => v * 50.0,
        _ => v + 1.0,
    };
    Some(replace_spans(code, &[(a, b, format_like(&code[a..b], x))]))
}

fn swap_op(code: &str, rng: &mut ChaCha8Rng) -> Option<String> {
    const OPS: [&str; 3] = [".union(", ".cut(", ".intersect("];
    let mut at: Vec<(usize, &str)> =
        OPS.iter().flat_map(|op| code.match_indices(op).map(|(i, _)| (i, *op)).collect::<Vec<_>>()).collect();
    if at.is_empty() {
        return None;
    }
    at.sort();
    let (i, op) = at[rng.random_range(0..at.len())];
    let others: Vec<&str> = OPS.iter().copied().filter(|o| *o != op).collect();
    let new = others[rng.random_range(0..others.len())];
    Some(replace_spans(code, &[(i, i + op.len(), new.to_string())]))
}

/// Statement lines (not the import, not comments, not blank): their indices.
fn statement_lines(lines: &[&str]) -> Vec<usize> {
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#') && !t.starts_with("import ") && !t.starts_with("from ")
        })
        .map(|(i, _)| i)
        .collect()
}

/// Replace one random statement line by `f(line)` (`None` drops it).
fn edit_line(
    code: &str,
    rng: &mut ChaCha8Rng,
    f: impl Fn(&str, &mut ChaCha8Rng) -> Option<String>,
) -> Option<String> {
    let lines: Vec<&str> = code.lines().collect();
    let st = statement_lines(&lines);
    if st.is_empty() {
        return None;
    }
    let k = st[rng.random_range(0..st.len())];
    let mut out: Vec<String> = Vec::with_capacity(lines.len() + 1);
    for (i, l) in lines.iter().enumerate() {
        if i == k {
            if let Some(r) = f(l, rng) {
                out.push(r);
            }
        } else {
            out.push(l.to_string());
        }
    }
    Some(out.join("\n") + "\n")
}

/// Lines that assign the result variable (`solid=...`, `solid = ...`).
fn result_lines(lines: &[&str]) -> Vec<usize> {
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start();
            t.strip_prefix("solid")
                .is_some_and(|r| r.trim_start().starts_with('=') && !r.trim_start().starts_with("=="))
        })
        .map(|(i, _)| i)
        .collect()
}

fn insert_after(code: &str, k: usize, line: &str) -> String {
    let mut lines: Vec<String> = code.lines().map(str::to_string).collect();
    lines.insert(k + 1, line.to_string());
    lines.join("\n") + "\n"
}

/// After an assignment of the result, a boolean that leaves nothing or misses the part:
/// `intersect` with a far solid (empty), `cut` by a box around everything (empty), or
/// `union` / `cut` with a far solid (disjoint). Later lines then act on what is left.
fn empty_boolean(code: &str, rng: &mut ChaCha8Rng) -> Option<String> {
    let lines: Vec<&str> = code.lines().collect();
    let at = result_lines(&lines);
    if at.is_empty() {
        return None;
    }
    let k = at[rng.random_range(0..at.len())];
    let stmt = match rng.random_range(0..4) {
        0 => format!("solid=solid.intersect({FAR})"),
        1 => "solid=solid.cut(cq.Workplane('XY').box(20.0, 20.0, 20.0))".to_string(),
        2 => format!("solid=solid.union({FAR})"),
        _ => format!("solid=solid.cut({FAR})"),
    };
    Some(insert_after(code, k, &stmt))
}

/// After an assignment of the result, a boolean whose operand is itself an empty
/// result (`x.intersect(far)`).
fn empty_operand(code: &str, rng: &mut ChaCha8Rng) -> Option<String> {
    let lines: Vec<&str> = code.lines().collect();
    let at = result_lines(&lines);
    if at.is_empty() {
        return None;
    }
    let k = at[rng.random_range(0..at.len())];
    let op = ["union", "cut", "intersect"][rng.random_range(0..3)];
    Some(insert_after(code, k, &format!("solid=solid.{op}(solid.intersect({FAR}))")))
}

/// Byte spans of the arguments of every `call` (a pattern ending in `(`) on a line.
fn call_args(line: &str, call: &str) -> Vec<(usize, usize)> {
    line.match_indices(call)
        .filter_map(|(i, m)| {
            let a = i + m.len();
            line[a..].find(')').map(|e| (a, a + e))
        })
        .collect()
}

/// The program `lines` with line `k` replaced by `new`.
fn with_line(lines: &[&str], k: usize, new: &str) -> String {
    let mut out: Vec<&str> = lines.to_vec();
    out[k] = new;
    out.join("\n") + "\n"
}

/// Swap the points of two `lineTo` calls of one loop (a bow tie: the loop crosses itself).
fn crossing_loop(code: &str, rng: &mut ChaCha8Rng) -> Option<String> {
    let lines: Vec<&str> = code.lines().collect();
    let cands: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].matches(".lineTo(").count() >= 2).collect();
    if cands.is_empty() {
        return None;
    }
    let k = cands[rng.random_range(0..cands.len())];
    let l = lines[k];
    let args = call_args(l, ".lineTo(");
    let i = rng.random_range(0..args.len());
    let mut j = rng.random_range(0..args.len() - 1);
    if j >= i {
        j += 1;
    }
    let (x, y) = if i < j { (args[i], args[j]) } else { (args[j], args[i]) };
    let new = format!("{}{}{}{}{}", &l[..x.0], &l[y.0..y.1], &l[x.1..y.0], &l[x.0..x.1], &l[y.1..]);
    Some(with_line(&lines, k, &new))
}

/// Make a sketch plane's x direction or normal not unit length, not orthogonal to the
/// other, zero, or parallel to the other.
fn odd_plane(code: &str, rng: &mut ChaCha8Rng) -> Option<String> {
    let lines: Vec<&str> = code.lines().collect();
    let cands: Vec<usize> =
        (0..lines.len()).filter(|&i| lines[i].matches("cq.Vector(").count() == 3).collect();
    if cands.is_empty() {
        return None;
    }
    let k = cands[rng.random_range(0..cands.len())];
    let l = lines[k];
    let vecs = call_args(l, "cq.Vector(");
    let parse = |s: &str| -> Option<[f64; 3]> {
        let v: Vec<f64> = s.split(',').map(|x| x.trim().parse().ok()).collect::<Option<_>>()?;
        (v.len() == 3).then(|| [v[0], v[1], v[2]])
    };
    let (xd, nd) = (parse(&l[vecs[1].0..vecs[1].1])?, parse(&l[vecs[2].0..vecs[2].1])?);
    let which = rng.random_range(1..3);
    let (mut v, other) = if which == 1 { (xd, nd) } else { (nd, xd) };
    match rng.random_range(0..4) {
        0 => {
            let s = 0.2 + 4.8 * rng.random::<f64>();
            v = v.map(|c| c * s);
        }
        1 => {
            // lean towards the other vector: not orthogonal
            let t = 0.05 + 0.75 * rng.random::<f64>();
            v = [v[0] + t * other[0], v[1] + t * other[1], v[2] + t * other[2]];
        }
        2 => v = [0.0; 3],
        _ => v = other,
    }
    let text = format!("{}, {}, {}", py_repr(v[0]), py_repr(v[1]), py_repr(v[2]));
    let new = replace_spans(l, &[(vecs[which].0, vecs[which].1, text)]);
    Some(with_line(&lines, k, &new))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    const P: &str = "import cadquery as cq\n\
        wp = cq.Workplane(cq.Plane(cq.Vector(-0.5, 0.0, 1e-05), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))\n\
        loop0=wp.moveTo(0.0, 0.0).lineTo(1.0, 0.0).lineTo(1.0, 1.0).lineTo(0.0, 1.0).close()\n\
        solid0=wp.add(loop0).extrude(0.5)\n\
        solid=solid0\n\
        solid1=wp.polygon(6, 0.3).extrude(2)\n\
        solid=solid.cut(solid1)\n";

    #[test]
    fn numbers_skip_names_and_keep_exponents() {
        let spans: Vec<&str> = number_spans(P).into_iter().map(|(a, b)| &P[a..b]).collect();
        assert!(spans.contains(&"1e-05"), "{spans:?}");
        // `loop0`, `solid1`, `wp` digits are names, not numbers
        assert_eq!(spans.iter().filter(|s| **s == "6").count(), 1);
        assert_eq!(number_spans("solid1=wp_sketch0.x(2)").len(), 1);
    }

    #[test]
    fn every_mutation_parses_and_changes_the_program() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for name in MUTATIONS {
            let mut changed = 0;
            for _ in 0..20 {
                let out = apply(name, P, &mut rng).unwrap_or_else(|| panic!("{name} found nothing"));
                let parsed = cadrl_rewards::cq::parse::parse_program(&out);
                assert!(parsed.is_ok(), "{name} broke the syntax:\n{out}");
                changed += usize::from(out != P);
            }
            // `scale` and `extreme_number` may draw a no-op (0.0 set to 0.0)
            assert!(changed >= 15, "{name} changed the program {changed} times in 20");
        }
    }

    #[test]
    fn crossing_loop_swaps_two_points_of_one_loop() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let out = crossing_loop(P, &mut rng).unwrap_or_default();
        let line = out.lines().nth(2).unwrap_or_default();
        assert_ne!(line, P.lines().nth(2).unwrap_or_default());
        let mut a: Vec<&str> = line.split(".lineTo(").skip(1).collect();
        let mut b: Vec<&str> = P.lines().nth(2).unwrap_or_default().split(".lineTo(").skip(1).collect();
        a.iter_mut().chain(b.iter_mut()).for_each(|s| *s = s.split(')').next().unwrap_or_default());
        a.sort();
        b.sort();
        assert_eq!(a, b, "the same points, reordered");
    }
}
