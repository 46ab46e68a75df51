//! Executing generated programs: the [`Outcome`] of a program and the [`Executor`]
//! trait, with the native executor (parse + interpret in Rust, no Python).
//!
//! Broken input is not an error: every program ends in exactly one outcome. `Err`
//! is kept for infrastructure failures (a dead worker pool, say) in executors that
//! have infrastructure.

use std::sync::Arc;

use rayon::prelude::*;

use crate::cq::interp::{RunError, run};
use crate::cq::ir::Pos;
use crate::cq::parse::{ParseFailure, char_column, needs_big_stack, parse_program};
use crate::geom::{Node, Solid};

/// Where and why a program failed.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Diag {
    /// What Python/CadQuery would say (at most [`MAX_MESSAGE`] bytes, then a note of
    /// the full length).
    pub message: String,
    /// Line of the program, from 1, when known.
    pub line: Option<u32>,
    /// Character column in that line, from 1, when known.
    pub col: Option<u32>,
}

/// What running one program gave.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The result variable holds this solid (non-empty).
    Valid(Arc<Solid>),
    /// The program is not valid Python.
    SyntaxError(Diag),
    /// Valid Python that fails when run (what CadQuery would raise), or whose
    /// result is empty or not a solid.
    ExecError(Diag),
    /// Valid Python using constructs this executor does not model.
    Unsupported {
        /// The construct that is not modelled (at most [`MAX_MESSAGE`] bytes, then a
        /// note of the full length).
        construct: String,
        /// Line of the program, from 1, when known.
        line: Option<u32>,
    },
}

impl Outcome {
    /// Whether the program ran to a solid.
    pub fn is_valid(&self) -> bool {
        matches!(self, Outcome::Valid(_))
    }
    /// The solid of a valid outcome.
    pub fn solid(&self) -> Option<&Arc<Solid>> {
        match self {
            Outcome::Valid(s) => Some(s),
            _ => None,
        }
    }
    /// `valid`, `syntax_error`, `exec_error` or `unsupported`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Valid(_) => "valid",
            Outcome::SyntaxError(_) => "syntax_error",
            Outcome::ExecError(_) => "exec_error",
            Outcome::Unsupported { .. } => "unsupported",
        }
    }
    /// A short one-line reason, e.g. `exec_error: line 3: NameError: name 'x' is not defined`.
    pub fn reason(&self) -> Option<String> {
        let at = |line: Option<u32>| line.map(|l| format!("line {l}: ")).unwrap_or_default();
        match self {
            Outcome::Valid(_) => None,
            Outcome::SyntaxError(d) | Outcome::ExecError(d) => {
                Some(format!("{}: {}{}", self.kind(), at(d.line), d.message))
            }
            Outcome::Unsupported { construct, line } => {
                Some(format!("unsupported: {}{construct}", at(*line)))
            }
        }
    }
}

/// An executor's infrastructure failed (workers cannot start, say); the programs
/// themselves never cause this.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ExecutorError(pub String);

/// Runs batches of untrusted programs.
pub trait Executor: Send + Sync {
    /// Short name for logs: `native`, `occt` or `auto`.
    fn name(&self) -> &str;
    /// One outcome per program, in order. `var` names the variable holding the
    /// result (`solid` in GenCAD-Code, `r` in CAD-Recode / cadrille programs).
    fn execute(&self, programs: &[&str], var: &str) -> Result<Vec<Outcome>, ExecutorError>;
}

/// Parse and interpret in-process, in parallel; no Python.
#[derive(Clone, Copy, Debug, Default)]
pub struct NativeExecutor;

impl Executor for NativeExecutor {
    fn name(&self) -> &str {
        "native"
    }
    fn execute(&self, programs: &[&str], var: &str) -> Result<Vec<Outcome>, ExecutorError> {
        Ok(programs.par_iter().map(|p| execute_native(p, var)).collect())
    }
}

/// Run one program natively.
pub fn execute_native(src: &str, var: &str) -> Outcome {
    if needs_big_stack(src) {
        let (src, var) = (src.to_owned(), var.to_owned());
        let spawned = std::thread::Builder::new().stack_size(1 << 30).spawn(move || guarded(&src, &var));
        return match spawned.map(|h| h.join()) {
            Ok(Ok(o)) => o,
            _ => Outcome::Unsupported {
                construct: "program too large or deep for the native executor".into(),
                line: None,
            },
        };
    }
    guarded(src, var)
}

fn guarded(src: &str, var: &str) -> Outcome {
    match std::panic::catch_unwind(|| execute_inner(src, var)) {
        Ok(o) => o,
        Err(_) => {
            Outcome::Unsupported { construct: "internal error in the native interpreter".into(), line: None }
        }
    }
}

fn execute_inner(src: &str, var: &str) -> Outcome {
    let prog = match parse_program(src) {
        Ok(p) => p,
        Err(ParseFailure::Syntax { message, pos }) => return Outcome::SyntaxError(diag(src, message, pos)),
        Err(ParseFailure::Unsupported { construct, pos }) => {
            return Outcome::Unsupported {
                construct: truncate(construct),
                line: (pos.line > 0).then_some(pos.line),
            };
        }
    };
    match run(&prog, var) {
        Ok(solid) => {
            // Unions of validated prisms (positive area and height, bounded coordinates,
            // no coincident loops) are never empty; only booleans can empty a solid, and
            // what they leave by rounding alone (parts that only touch) is nothing, as
            // in OCCT.
            if may_be_empty(&solid.root) && crate::geom::is_empty(&solid) {
                return Outcome::ExecError(Diag {
                    message: "the result is an empty solid".into(),
                    line: None,
                    col: None,
                });
            }
            Outcome::Valid(Arc::new(solid))
        }
        Err(RunError::Exec { message, pos }) => Outcome::ExecError(diag(src, message, pos)),
        Err(RunError::Unsupported { construct, pos }) => {
            Outcome::Unsupported { construct: truncate(construct), line: (pos.line > 0).then_some(pos.line) }
        }
    }
}

/// Longest message kept in a diagnostic: generated code can put a megabyte into a
/// name or a string that an error message would echo.
pub const MAX_MESSAGE: usize = 300;

fn truncate(mut m: String) -> String {
    if m.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !m.is_char_boundary(cut) {
            cut -= 1;
        }
        let total = m.len();
        m.truncate(cut);
        m.push_str(&format!("... ({total} bytes)"));
    }
    m
}

fn diag(src: &str, message: String, pos: Pos) -> Diag {
    let known = pos.line > 0;
    Diag {
        message: truncate(message),
        line: known.then_some(pos.line),
        col: (known && pos.col > 0).then(|| char_column(src, pos)),
    }
}

/// Unions of prisms with positive area and height are never empty; differences
/// and intersections may be.
fn may_be_empty(n: &Node) -> bool {
    match n {
        Node::Prism(_) | Node::Mesh(_) => false,
        Node::Union(v) => v.iter().all(may_be_empty),
        Node::Diff(..) | Node::Inter(..) => true,
    }
}
