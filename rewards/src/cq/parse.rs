//! Python source -> [`Program`] through `ruff_python_parser`.
//!
//! Syntax errors carry line and column. Valid Python outside the subset the
//! interpreter understands becomes `Unsupported { construct, line }`. Inputs that
//! would make a recursive-descent parser or the AST's destructor recurse without
//! bound are refused before parsing, the way CPython's tokenizer refuses them
//! (more than 200 nested brackets), or lowered on a thread with a large stack (see `needs_big_stack`).

use ruff_python_ast as ast;
use ruff_text_size::Ranged;

use super::ir::{BinOp, Expr, ExprKind, Pos, Program, Stmt};

/// Why a program could not be lowered to the IR.
#[derive(Clone, Debug, PartialEq)]
pub enum ParseFailure {
    /// Not valid Python (or refused before parsing, like CPython, for too deep nesting).
    Syntax {
        /// The parser's message.
        message: String,
        /// Where the error is.
        pos: Pos,
    },
    /// Valid Python outside the subset the interpreter models.
    Unsupported {
        /// The construct, as the outcome names it (e.g. `relative import`).
        construct: String,
        /// Where it starts.
        pos: Pos,
    },
}

/// CPython's limit on nested brackets (`MAXLEVEL` in its tokenizer).
pub(crate) const MAX_BRACKET_DEPTH: usize = 200;
/// Deepest expression the lowering accepts (chained calls count one level each).
pub(crate) const MAX_EXPR_DEPTH: usize = 1_000_000;

struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    fn new(src: &str) -> Lines {
        // "\n", "\r\n" and a lone "\r" end a line, as in Python
        let b = src.as_bytes();
        let mut starts = vec![0];
        for (i, &c) in b.iter().enumerate() {
            if c == b'\n' || (c == b'\r' && b.get(i + 1) != Some(&b'\n')) {
                starts.push(i + 1);
            }
        }
        Lines { starts }
    }
    /// Line and 1-based *byte* column (cheap for every node of a long line; turned into
    /// a character column once, for a diagnostic, by [`char_column`]).
    fn pos(&self, _src: &str, offset: usize) -> Pos {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        Pos { line: line as u32, col: (offset.saturating_sub(start)) as u32 + 1 }
    }
}

/// The 1-based character column of a position whose `col` is a byte column.
pub(crate) fn char_column(src: &str, pos: Pos) -> u32 {
    let lines = Lines::new(src);
    let Some(&start) = lines.starts.get(pos.line.saturating_sub(1) as usize) else { return pos.col };
    let end = lines.starts.get(pos.line as usize).copied().unwrap_or(src.len());
    let Some(line) = src.get(start..end) else { return pos.col };
    let byte = (pos.col.saturating_sub(1) as usize).min(line.len());
    let mut b = byte;
    while b > 0 && !line.is_char_boundary(b) {
        b -= 1;
    }
    line[..b].chars().count() as u32 + 1
}

/// Parse and lower a program.
pub fn parse_program(src: &str) -> Result<Program, ParseFailure> {
    if let Some(i) = src.find('\0') {
        return Err(ParseFailure::Syntax {
            message: "source code cannot contain null bytes".into(),
            pos: Lines::new(src).pos(src, i),
        });
    }
    if let Some(pos) = bracket_overflow(src) {
        return Err(ParseFailure::Syntax { message: "too many nested parentheses".into(), pos });
    }
    parse_inner(src)
}

/// Whether a program may build an AST deep enough to need a large stack to parse,
/// run and drop (the executor then runs it on a thread with one).
pub(crate) fn needs_big_stack(src: &str) -> bool {
    // every byte that can open an AST level costs ~1 KiB of stack in lowering and
    // evaluation; a 2 MiB thread (rayon's, a test's) holds about 2,000 of them
    const OPENERS: &[u8] = b"([{-+*/%@~.<>&|^";
    src.len() > 64 * 1024 || src.bytes().filter(|b| OPENERS.contains(b)).count() > 1_000
}

fn parse_inner(src: &str) -> Result<Program, ParseFailure> {
    let lines = Lines::new(src);
    let parsed = ruff_python_parser::parse_module(src).map_err(|e| ParseFailure::Syntax {
        message: e.error.to_string(),
        pos: lines.pos(src, e.location.start().to_usize()),
    })?;
    let module = parsed.into_syntax();
    let lower = Lower { src, lines: &lines };
    let mut stmts = Vec::with_capacity(module.body.len());
    for s in &module.body {
        stmts.push(lower.stmt(s)?);
    }
    Ok(Program { stmts })
}

/// Position of the first bracket nested deeper than [`MAX_BRACKET_DEPTH`], skipping
/// strings and comments.
fn bracket_overflow(src: &str) -> Option<Pos> {
    let bytes = src.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            q @ (b'\'' | b'"') => {
                let triple = bytes.get(i..i + 3) == Some(&[q, q, q][..]);
                i += if triple { 3 } else { 1 };
                while i < bytes.len() {
                    if bytes[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if triple {
                        if bytes.get(i..i + 3) == Some(&[q, q, q][..]) {
                            i += 2;
                            break;
                        }
                    } else if bytes[i] == q || bytes[i] == b'\n' {
                        break;
                    }
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_BRACKET_DEPTH {
                    return Some(Lines::new(src).pos(src, i));
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

struct Lower<'a> {
    src: &'a str,
    lines: &'a Lines,
}

impl Lower<'_> {
    fn pos(&self, r: &impl Ranged) -> Pos {
        self.lines.pos(self.src, r.start().to_usize())
    }

    fn unsupported<T>(&self, what: impl Into<String>, r: &impl Ranged) -> Result<T, ParseFailure> {
        Err(ParseFailure::Unsupported { construct: what.into(), pos: self.pos(r) })
    }

    fn stmt(&self, s: &ast::Stmt) -> Result<Stmt, ParseFailure> {
        let pos = self.pos(s);
        match s {
            ast::Stmt::Import(i) => {
                if i.names.len() != 1 {
                    return self.unsupported("import of several modules in one statement", s);
                }
                let a = &i.names[0];
                Ok(Stmt::Import {
                    module: a.name.id.to_string(),
                    alias: a.asname.as_ref().map(|n| n.id.to_string()),
                    pos,
                })
            }
            ast::Stmt::ImportFrom(i) => {
                let module = i.module.as_ref().map(|m| m.id.to_string()).unwrap_or_default();
                if i.level != 0 {
                    return self.unsupported("relative import", s);
                }
                let names = i
                    .names
                    .iter()
                    .map(|a| (a.name.id.to_string(), a.asname.as_ref().map(|n| n.id.to_string())))
                    .collect();
                Ok(Stmt::ImportFrom { module, names, pos })
            }
            ast::Stmt::Assign(a) => {
                let mut targets = Vec::new();
                for t in &a.targets {
                    match t {
                        ast::Expr::Name(n) => targets.push(n.id.to_string()),
                        _ => return self.unsupported("assignment to something other than a name", t),
                    }
                }
                Ok(Stmt::Assign { targets, value: self.expr(&a.value, 0)?, pos })
            }
            ast::Stmt::Expr(e) => Ok(Stmt::Expr { value: self.expr(&e.value, 0)?, pos }),
            ast::Stmt::Pass(_) => Ok(Stmt::Pass),
            other => self.unsupported(format!("statement `{}`", stmt_name(other)), s),
        }
    }

    fn expr(&self, e: &ast::Expr, depth: usize) -> Result<Expr, ParseFailure> {
        if depth > MAX_EXPR_DEPTH {
            return self.unsupported("expression nested too deeply", e);
        }
        let d = depth + 1;
        let pos = self.pos(e);
        let kind = match e {
            ast::Expr::Name(n) => ExprKind::Name(n.id.to_string()),
            ast::Expr::NumberLiteral(n) => match &n.value {
                ast::Number::Int(i) => match i.as_i64() {
                    Some(v) => ExprKind::Int(v),
                    // Beyond i64: keep the magnitude as a float (Python would convert on use).
                    None => ExprKind::Float(
                        i.to_string().replace('_', "").parse::<f64>().unwrap_or(f64::INFINITY),
                    ),
                },
                ast::Number::Float(f) => ExprKind::Float(*f),
                ast::Number::Complex { .. } => return self.unsupported("complex number literal", e),
            },
            ast::Expr::StringLiteral(s) => ExprKind::Str(s.value.to_str().to_string()),
            ast::Expr::BooleanLiteral(b) => ExprKind::Bool(b.value),
            ast::Expr::NoneLiteral(_) => ExprKind::None,
            ast::Expr::Tuple(t) => {
                ExprKind::Tuple(t.elts.iter().map(|x| self.expr(x, d)).collect::<Result<_, _>>()?)
            }
            ast::Expr::List(t) => {
                ExprKind::List(t.elts.iter().map(|x| self.expr(x, d)).collect::<Result<_, _>>()?)
            }
            ast::Expr::Attribute(a) => {
                ExprKind::Attr(Box::new(self.expr(&a.value, d)?), a.attr.id.to_string())
            }
            ast::Expr::Call(c) => {
                let func = Box::new(self.expr(&c.func, d)?);
                let mut args = Vec::new();
                for a in c.arguments.args.iter() {
                    if matches!(a, ast::Expr::Starred(_)) {
                        return self.unsupported("starred argument", a);
                    }
                    args.push(self.expr(a, d)?);
                }
                let mut kwargs = Vec::new();
                for k in c.arguments.keywords.iter() {
                    match &k.arg {
                        Some(name) => kwargs.push((name.id.to_string(), self.expr(&k.value, d)?)),
                        None => return self.unsupported("`**` keyword arguments", k),
                    }
                }
                ExprKind::Call { func, args, kwargs }
            }
            ast::Expr::UnaryOp(u) => match u.op {
                ast::UnaryOp::USub => ExprKind::Neg(Box::new(self.expr(&u.operand, d)?)),
                ast::UnaryOp::UAdd => ExprKind::Pos(Box::new(self.expr(&u.operand, d)?)),
                _ => return self.unsupported(format!("unary operator `{}`", u.op.as_str()), e),
            },
            ast::Expr::BinOp(b) => {
                let op = match b.op {
                    ast::Operator::Add => BinOp::Add,
                    ast::Operator::Sub => BinOp::Sub,
                    ast::Operator::Mult => BinOp::Mul,
                    ast::Operator::Div => BinOp::Div,
                    ast::Operator::Pow => BinOp::Pow,
                    other => return self.unsupported(format!("operator `{}`", other.as_str()), e),
                };
                ExprKind::Bin(op, Box::new(self.expr(&b.left, d)?), Box::new(self.expr(&b.right, d)?))
            }
            other => return self.unsupported(format!("expression `{}`", expr_name(other)), e),
        };
        Ok(Expr { kind, pos })
    }
}

fn stmt_name(s: &ast::Stmt) -> &'static str {
    match s {
        ast::Stmt::FunctionDef(_) => "def",
        ast::Stmt::ClassDef(_) => "class",
        ast::Stmt::Return(_) => "return",
        ast::Stmt::Delete(_) => "del",
        ast::Stmt::AugAssign(_) => "augmented assignment",
        ast::Stmt::AnnAssign(_) => "annotated assignment",
        ast::Stmt::For(_) => "for",
        ast::Stmt::While(_) => "while",
        ast::Stmt::If(_) => "if",
        ast::Stmt::With(_) => "with",
        ast::Stmt::Match(_) => "match",
        ast::Stmt::Raise(_) => "raise",
        ast::Stmt::Try(_) => "try",
        ast::Stmt::Assert(_) => "assert",
        ast::Stmt::Global(_) => "global",
        ast::Stmt::Nonlocal(_) => "nonlocal",
        ast::Stmt::Break(_) => "break",
        ast::Stmt::Continue(_) => "continue",
        _ => "other",
    }
}

fn expr_name(e: &ast::Expr) -> &'static str {
    match e {
        ast::Expr::BoolOp(_) => "boolean operator",
        ast::Expr::Named(_) => "walrus",
        ast::Expr::Lambda(_) => "lambda",
        ast::Expr::If(_) => "conditional expression",
        ast::Expr::Dict(_) => "dict",
        ast::Expr::Set(_) => "set",
        ast::Expr::ListComp(_) | ast::Expr::SetComp(_) | ast::Expr::DictComp(_) | ast::Expr::Generator(_) => {
            "comprehension"
        }
        ast::Expr::Await(_) => "await",
        ast::Expr::Yield(_) | ast::Expr::YieldFrom(_) => "yield",
        ast::Expr::Compare(_) => "comparison",
        ast::Expr::FString(_) | ast::Expr::TString(_) => "f-string",
        ast::Expr::BytesLiteral(_) => "bytes literal",
        ast::Expr::Subscript(_) => "subscript",
        ast::Expr::Starred(_) => "starred expression",
        ast::Expr::Slice(_) => "slice",
        ast::Expr::EllipsisLiteral(_) => "ellipsis",
        _ => "other",
    }
}
