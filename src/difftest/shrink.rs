//! Shrinking a program that shows a disagreement to a minimal one that still shows it,
//! and the call signature findings are grouped by.

/// Statement lines of a program (the ones shrinking may drop): not the import, not
/// comments, not blank.
fn droppable(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#') && !t.starts_with("import ") && !t.starts_with("from ")
}

/// Greedy line removal: every round tries each droppable line's removal (one batch
/// through `classify`), keeps them all at once if that still shows `class`, else the
/// first that does, and stops when no removal keeps it or after `rounds` rounds.
/// Comments and blank lines go first, for free.
pub(crate) fn shrink(
    program: &str,
    class: &str,
    rounds: usize,
    classify: &mut dyn FnMut(&[String]) -> Vec<Option<String>>,
) -> String {
    let mut cur: Vec<String> = program
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
        .map(str::to_string)
        .collect();
    if classify(&[join(&cur)]).first().and_then(|c| c.as_deref()) != Some(class) {
        return program.to_string();
    }
    for _ in 0..rounds {
        let cands: Vec<usize> = (0..cur.len()).filter(|&i| droppable(&cur[i])).collect();
        if cands.is_empty() {
            break;
        }
        let progs: Vec<String> = cands.iter().map(|&j| join(&without(&cur, &[j]))).collect();
        let classes = classify(&progs);
        let good: Vec<usize> = cands
            .iter()
            .zip(&classes)
            .filter(|(_, c)| c.as_deref() == Some(class))
            .map(|(&j, _)| j)
            .collect();
        let Some(&first) = good.first() else { break };
        if good.len() > 1 {
            let all = without(&cur, &good);
            if classify(&[join(&all)]).first().and_then(|c| c.as_deref()) == Some(class) {
                cur = all;
                continue;
            }
        }
        cur = without(&cur, &[first]);
    }
    join(&cur)
}

fn without(lines: &[String], drop: &[usize]) -> Vec<String> {
    lines.iter().enumerate().filter(|(i, _)| !drop.contains(i)).map(|(_, l)| l.clone()).collect()
}

fn join(lines: &[String]) -> String {
    lines.join("\n") + "\n"
}

/// The shape of a program, numbers and names left out: per statement the methods it
/// calls, repeats folded (`lineTo+`), repeated statements folded, e.g.
/// `Workplane Plane Vector+; moveTo lineTo+ close; add extrude; intersect ...`.
pub(crate) fn signature(program: &str) -> String {
    let mut stmts: Vec<String> = Vec::new();
    for line in program.lines().filter(|l| droppable(l)) {
        let mut calls: Vec<String> = Vec::new();
        let b = line.as_bytes();
        for (i, _) in line.match_indices('(') {
            let mut s = i;
            while s > 0 && (b[s - 1].is_ascii_alphanumeric() || b[s - 1] == b'_') {
                s -= 1;
            }
            if s == i {
                continue; // a tuple
            }
            let name = &line[s..i];
            let method = s > 0 && b[s - 1] == b'.';
            let name =
                if method || name.chars().next().is_some_and(char::is_uppercase) { name } else { continue };
            match calls.last_mut() {
                Some(last) if last.trim_end_matches('+') == name => {
                    if !last.ends_with('+') {
                        last.push('+');
                    }
                }
                _ => calls.push(name.to_string()),
            }
        }
        let s = if calls.is_empty() { "=".to_string() } else { calls.join(" ") };
        if stmts.last() != Some(&s) {
            stmts.push(s);
        }
    }
    stmts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_folds_repeats_and_drops_numbers() {
        let p = "import cadquery as cq\n# c\nwp = cq.Workplane(cq.Plane(cq.Vector(0, 0, 0), cq.Vector(1, 0, 0), cq.Vector(0, 0, 1)))\n\
                 l=wp.moveTo(0, 0).lineTo(1, 0).lineTo(1, 1).close()\ns=wp.add(l).extrude(0.5)\nsolid=s\nsolid=solid.cut(s)\nsolid=solid.cut(s)\n";
        assert_eq!(signature(p), "Workplane Plane Vector+; moveTo lineTo+ close; add extrude; =; cut");
    }

    #[test]
    fn shrink_keeps_only_the_lines_the_class_needs() {
        // a fake classifier: the class shows while lines `a` and `c` are both present
        let p = "import cadquery as cq\na = 1\nb = 2\n# note\nc = 3\nd = 4\n";
        let calls = std::cell::Cell::new(0);
        let mut classify = |ps: &[String]| -> Vec<Option<String>> {
            calls.set(calls.get() + 1);
            ps.iter().map(|p| (p.contains("a = 1") && p.contains("c = 3")).then(|| "x".to_string())).collect()
        };
        let out = shrink(p, "x", 10, &mut classify);
        assert_eq!(out, "import cadquery as cq\na = 1\nc = 3\n");
        assert!(calls.get() <= 4, "{} batches", calls.get());
        // a program that does not show the class comes back unchanged
        assert_eq!(shrink(p, "y", 10, &mut classify), p);
    }
}
