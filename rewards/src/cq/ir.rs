//! The small program IR that the interpreter runs. It is independent of the Python
//! parser in use (see `parse.rs`), so the parser can be swapped without touching
//! the interpreter.

/// 1-based line and column of a construct in the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, from 1 (0 when unknown).
    pub line: u32,
    /// Byte column within the line, from 1 (0 when unknown); a diagnostic turns it
    /// into a character column.
    pub col: u32,
}

/// A parsed program: its top-level statements, lowered to the interpreter's IR
/// (what [`crate::cq::parse::parse_program`] returns).
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub(crate) stmts: Vec<Stmt>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Stmt {
    /// `import a.b as c` (alias `None` binds the first name component).
    Import {
        module: String,
        alias: Option<String>,
        pos: Pos,
    },
    /// `from module import name as alias`.
    ImportFrom {
        module: String,
        names: Vec<(String, Option<String>)>,
        pos: Pos,
    },
    /// `a = b = value` (simple names only).
    Assign {
        targets: Vec<String>,
        value: Expr,
        pos: Pos,
    },
    /// An expression evaluated for its effects.
    Expr {
        value: Expr,
        pos: Pos,
    },
    Pass,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ExprKind {
    Name(String),
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    None,
    Tuple(Vec<Expr>),
    List(Vec<Expr>),
    Attr(Box<Expr>, String),
    Call { func: Box<Expr>, args: Vec<Expr>, kwargs: Vec<(String, Expr)> },
    Neg(Box<Expr>),
    Pos(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Expr {
    pub(crate) kind: ExprKind,
    pub(crate) pos: Pos,
}
