//! The interpreter: runs an [`ir::Program`] with CadQuery 2.x semantics for the
//! subset GenCAD-Code uses (plus a few cheap extras), producing the exact solid bound
//! to the result variable.
//!
//! Supported: `import cadquery as cq` (or `import cadquery`, `from cadquery import
//! ...`); assignments; `cq.Vector`, `cq.Plane(origin, xDir, normal)`,
//! `cq.Workplane("XY" | ... , origin=)` / `cq.Workplane(plane)`; `moveTo`, `lineTo`,
//! `line`, `hLine`, `vLine`, `hLineTo`, `vLineTo`, `threePointArc`, `close`, `wire`,
//! `circle`, `rect`, `polygon`, `add`, `extrude(d, both=, combine=)`, `box`, `union`,
//! `cut`, `intersect`, `val`; numbers with `+ - * / **`, tuples and lists.
//! Anything else is `Unsupported`, never guessed.

use std::collections::HashMap;
use std::rc::Rc;

use super::ir::{BinOp, Expr, ExprKind, Pos, Program, Stmt};
use super::wp::{Fail, Obj, R, Wire, Wp, exec, extrude_prism, local_point, polygon_wire, unsupported};
use crate::geom::{Frame, P2, Solid, V3, p2, v3};

#[derive(Clone, Debug)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Seq(Rc<Vec<Value>>, bool), // (items, is_list)
    Module,
    Class(Class),
    PlaneNamed,
    Vector(V3),
    Plane(Frame),
    Workplane(Rc<Wp>),
    Shape(Rc<Solid>),
    Method(Box<Value>, Rc<str>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Class {
    Workplane,
    Plane,
    Vector,
}

impl Value {
    fn type_name(&self) -> &'static str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Seq(_, true) => "list",
            Value::Seq(_, false) => "tuple",
            Value::Module => "module",
            Value::Class(_) | Value::PlaneNamed => "type",
            Value::Vector(_) => "Vector",
            Value::Plane(_) => "Plane",
            Value::Workplane(_) => "Workplane",
            Value::Shape(_) => "Compound",
            Value::Method(..) => "method",
        }
    }
}

/// Result of running a program.
#[derive(Debug)]
pub(crate) enum RunError {
    Exec { message: String, pos: Pos },
    Unsupported { construct: String, pos: Pos },
}

/// Run `prog` and return the solid bound to `var`.
pub(crate) fn run(prog: &Program, var: &str) -> Result<Solid, RunError> {
    let mut env: HashMap<String, Value> = HashMap::new();
    let mut last = Pos::default();
    for s in &prog.stmts {
        let pos = match s {
            Stmt::Import { pos, .. }
            | Stmt::ImportFrom { pos, .. }
            | Stmt::Assign { pos, .. }
            | Stmt::Expr { pos, .. } => *pos,
            Stmt::Pass => last,
        };
        last = pos;
        exec_stmt(&mut env, s).map_err(|f| to_run_error(f, pos))?;
    }
    let end = Pos { line: last.line, col: 0 };
    let value = env.get(var).cloned().ok_or_else(|| RunError::Exec {
        message: format!("NameError: the result variable `{var}` is never assigned"),
        pos: end,
    })?;
    let solids = match value {
        Value::Workplane(wp) => wp.stack_solids(),
        Value::Shape(s) => vec![(*s).clone()],
        other => {
            return Err(RunError::Exec {
                message: format!(
                    "TypeError: the result variable `{var}` is a {}, not a Workplane with a solid",
                    other.type_name()
                ),
                pos: end,
            });
        }
    };
    if solids.is_empty() {
        return Err(RunError::Exec {
            message: format!("the result variable `{var}` holds no solid"),
            pos: end,
        });
    }
    Ok(Solid::union(solids))
}

fn to_run_error(f: Fail, pos: Pos) -> RunError {
    match f {
        Fail::Exec(message) => RunError::Exec { message, pos },
        Fail::Unsupported(construct) => RunError::Unsupported { construct, pos },
    }
}

fn exec_stmt(env: &mut HashMap<String, Value>, s: &Stmt) -> R<()> {
    match s {
        Stmt::Import { module, alias, .. } => {
            if module != "cadquery" {
                return unsupported(format!("import of module `{module}`"));
            }
            env.insert(alias.clone().unwrap_or_else(|| "cadquery".into()), Value::Module);
        }
        Stmt::ImportFrom { module, names, .. } => {
            if module != "cadquery" {
                return unsupported(format!("import from module `{module}`"));
            }
            for (name, alias) in names {
                let v = module_attr(name)?;
                env.insert(alias.clone().unwrap_or_else(|| name.clone()), v);
            }
        }
        Stmt::Assign { targets, value, .. } => {
            let v = eval(env, value)?;
            for t in targets {
                env.insert(t.clone(), v.clone());
            }
        }
        Stmt::Expr { value, .. } => {
            eval(env, value)?;
        }
        Stmt::Pass => {}
    }
    Ok(())
}

fn module_attr(name: &str) -> R<Value> {
    Ok(match name {
        "Workplane" => Value::Class(Class::Workplane),
        "Plane" => Value::Class(Class::Plane),
        "Vector" => Value::Class(Class::Vector),
        "*" => return unsupported("`from cadquery import *`"),
        other => return unsupported(format!("cadquery.{other}")),
    })
}

fn eval(env: &HashMap<String, Value>, e: &Expr) -> R<Value> {
    Ok(match &e.kind {
        ExprKind::Name(n) => match env.get(n) {
            Some(v) => v.clone(),
            None => match n.as_str() {
                "True" => Value::Bool(true),
                "False" => Value::Bool(false),
                "None" => Value::None,
                _ if BUILTINS.contains(&n.as_str()) => return unsupported(format!("Python builtin `{n}`")),
                _ => return exec(format!("NameError: name '{n}' is not defined")),
            },
        },
        ExprKind::Int(i) => Value::Int(*i),
        ExprKind::Float(f) => Value::Float(*f),
        ExprKind::Str(s) => Value::Str(s.as_str().into()),
        ExprKind::Bool(b) => Value::Bool(*b),
        ExprKind::None => Value::None,
        ExprKind::Tuple(items) | ExprKind::List(items) => {
            let vals = items.iter().map(|x| eval(env, x)).collect::<R<Vec<_>>>()?;
            Value::Seq(Rc::new(vals), matches!(e.kind, ExprKind::List(_)))
        }
        ExprKind::Neg(x) => match eval(env, x)? {
            Value::Int(i) => i.checked_neg().map(Value::Int).unwrap_or(Value::Float(-(i as f64))),
            Value::Float(f) => Value::Float(-f),
            Value::Bool(b) => Value::Int(-(b as i64)),
            Value::Vector(v) => Value::Vector(-v),
            other => {
                return exec(format!("TypeError: bad operand type for unary -: '{}'", other.type_name()));
            }
        },
        ExprKind::Pos(x) => match eval(env, x)? {
            v @ (Value::Int(_) | Value::Float(_)) => v,
            other => {
                return exec(format!("TypeError: bad operand type for unary +: '{}'", other.type_name()));
            }
        },
        ExprKind::Bin(op, a, b) => binop(*op, eval(env, a)?, eval(env, b)?)?,
        ExprKind::Attr(obj, name) => attr(eval(env, obj)?, name)?,
        ExprKind::Call { func, args, kwargs } => {
            let f = eval(env, func)?;
            let args = args.iter().map(|x| eval(env, x)).collect::<R<Vec<_>>>()?;
            let mut kw = Vec::with_capacity(kwargs.len());
            for (k, x) in kwargs {
                if kw.iter().any(|(n, _): &(String, Value)| n == k) {
                    return exec(format!("SyntaxError: keyword argument repeated: {k}"));
                }
                kw.push((k.clone(), eval(env, x)?));
            }
            call(f, Args { pos: args, kw })?
        }
    })
}

/// Python builtins a program may call; the interpreter does not model them.
const BUILTINS: &[&str] = &[
    "abs",
    "all",
    "any",
    "bool",
    "dict",
    "divmod",
    "enumerate",
    "eval",
    "exec",
    "exit",
    "float",
    "getattr",
    "globals",
    "int",
    "isinstance",
    "len",
    "list",
    "locals",
    "map",
    "max",
    "min",
    "open",
    "pow",
    "print",
    "quit",
    "range",
    "round",
    "set",
    "setattr",
    "sorted",
    "str",
    "sum",
    "tuple",
    "type",
    "vars",
    "zip",
    "__import__",
    "compile",
    "input",
];

fn num(v: &Value) -> Option<f64> {
    match *v {
        Value::Int(i) => Some(i as f64),
        Value::Float(f) => Some(f),
        Value::Bool(b) => Some(b as i64 as f64),
        _ => None,
    }
}

fn binop(op: BinOp, a: Value, b: Value) -> R<Value> {
    if let (Value::Int(x), Value::Int(y)) = (&a, &b) {
        let r = match op {
            BinOp::Add => x.checked_add(*y),
            BinOp::Sub => x.checked_sub(*y),
            BinOp::Mul => x.checked_mul(*y),
            BinOp::Pow if *y >= 0 && *y <= u32::MAX as i64 => x.checked_pow(*y as u32),
            _ => None,
        };
        if let Some(r) = r {
            return Ok(Value::Int(r));
        }
    }
    let (Some(x), Some(y)) = (num(&a), num(&b)) else {
        return exec(format!(
            "TypeError: unsupported operand types for {op:?}: '{}' and '{}'",
            a.type_name(),
            b.type_name()
        ));
    };
    let r = match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div => {
            if y == 0.0 {
                return exec("ZeroDivisionError: division by zero");
            }
            x / y
        }
        BinOp::Pow => {
            if x == 0.0 && y < 0.0 {
                return exec("ZeroDivisionError: 0.0 cannot be raised to a negative power");
            }
            if x < 0.0 && y.fract() != 0.0 {
                return unsupported("complex result of a fractional power");
            }
            let r = x.powf(y);
            if r.is_infinite() && x.is_finite() && y.is_finite() {
                return exec("OverflowError: (34, 'Numerical result out of range')");
            }
            r
        }
    };
    Ok(Value::Float(r))
}

fn attr(obj: Value, name: &str) -> R<Value> {
    match &obj {
        Value::Module => module_attr(name),
        Value::Class(Class::Plane) if name == "named" => Ok(Value::PlaneNamed),
        Value::Vector(v) => match name {
            "x" => Ok(Value::Float(v.x)),
            "y" => Ok(Value::Float(v.y)),
            "z" => Ok(Value::Float(v.z)),
            _ => unsupported(format!("Vector.{name}")),
        },
        Value::Workplane(_) => Ok(Value::Method(Box::new(obj), name.into())),
        other => {
            if matches!(other, Value::Class(_) | Value::Plane(_) | Value::Shape(_)) {
                unsupported(format!("{}.{name}", other.type_name()))
            } else {
                exec(format!("AttributeError: '{}' object has no attribute '{name}'", other.type_name()))
            }
        }
    }
}

/// Call arguments with Python's binding rules for a fixed parameter list.
struct Args {
    pos: Vec<Value>,
    kw: Vec<(String, Value)>,
}

impl Args {
    /// Bind to `params`; `required` leading ones must be present.
    fn bind(self, fname: &str, params: &[&str], required: usize) -> R<Vec<Option<Value>>> {
        if self.pos.len() > params.len() {
            return exec(format!(
                "TypeError: {fname}() takes {} positional arguments but {} were given",
                params.len(),
                self.pos.len()
            ));
        }
        let mut out: Vec<Option<Value>> = vec![None; params.len()];
        for (i, v) in self.pos.into_iter().enumerate() {
            out[i] = Some(v);
        }
        for (k, v) in self.kw {
            match params.iter().position(|p| *p == k) {
                Some(i) if out[i].is_some() => {
                    return exec(format!("TypeError: {fname}() got multiple values for argument '{k}'"));
                }
                Some(i) => out[i] = Some(v),
                None => {
                    return exec(format!("TypeError: {fname}() got an unexpected keyword argument '{k}'"));
                }
            }
        }
        for (i, p) in params.iter().enumerate().take(required) {
            if out[i].is_none() {
                return exec(format!("TypeError: {fname}() missing required argument: '{p}'"));
            }
        }
        Ok(out)
    }
}

fn float_arg(v: &Option<Value>, default: f64, what: &str) -> R<f64> {
    match v {
        None => Ok(default),
        Some(x) => num(x)
            .ok_or_else(|| Fail::Exec(format!("TypeError: {what} must be a number, not {}", x.type_name()))),
    }
}

fn bool_arg(v: &Option<Value>, default: bool, what: &str) -> R<bool> {
    match v {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Int(i)) => Ok(*i != 0),
        Some(Value::None) => Ok(false),
        Some(x) => unsupported(format!("{what}={} (only booleans are modelled)", x.type_name())),
    }
}

fn vector_like(v: &Value, what: &str) -> R<V3> {
    match v {
        Value::Vector(v) => Ok(*v),
        Value::Seq(items, _) => {
            let nums = items.iter().map(|x| num(x).ok_or(())).collect::<Result<Vec<_>, _>>();
            match nums {
                Ok(n) => local_point(&n),
                Err(()) => exec(format!("TypeError: {what} must hold numbers")),
            }
        }
        other => exec(format!("TypeError: {what} must be a Vector or a tuple, not {}", other.type_name())),
    }
}

fn named_plane(name: &str, origin: V3) -> R<Frame> {
    let (x, n) = match name {
        "XY" | "front" => (v3(1.0, 0.0, 0.0), v3(0.0, 0.0, 1.0)),
        "YZ" => (v3(0.0, 1.0, 0.0), v3(1.0, 0.0, 0.0)),
        "ZX" => (v3(0.0, 0.0, 1.0), v3(0.0, 1.0, 0.0)),
        "XZ" => (v3(1.0, 0.0, 0.0), v3(0.0, -1.0, 0.0)),
        "YX" => (v3(0.0, 1.0, 0.0), v3(0.0, 0.0, -1.0)),
        "ZY" => (v3(0.0, 0.0, 1.0), v3(-1.0, 0.0, 0.0)),
        "back" => (v3(-1.0, 0.0, 0.0), v3(0.0, 0.0, -1.0)),
        "left" => (v3(0.0, 0.0, 1.0), v3(-1.0, 0.0, 0.0)),
        "right" => (v3(0.0, 0.0, -1.0), v3(1.0, 0.0, 0.0)),
        "top" => (v3(1.0, 0.0, 0.0), v3(0.0, 1.0, 0.0)),
        "bottom" => (v3(1.0, 0.0, 0.0), v3(0.0, -1.0, 0.0)),
        other => {
            return exec(format!(
                "ValueError: Supported names are [XY, YZ, ZX, XZ, YX, ZY, front, back, left, right, top, bottom], not '{other}'"
            ));
        }
    };
    make_plane(origin, x, n)
}

fn make_plane(origin: V3, x: V3, n: V3) -> R<Frame> {
    if !(origin.is_finite() && x.is_finite() && n.is_finite()) {
        return exec("Standard_ConstructionError: non-finite plane vector");
    }
    super::wp::check_finite(&[origin])?;
    if n.norm() == 0.0 {
        return exec("ValueError: normal should be non null");
    }
    if x.norm() == 0.0 {
        return exec("ValueError: xDir should be non null");
    }
    // CadQuery fails only where normal x xDir is exactly zero (`gp_Vec::Normalized`);
    // nearly parallel vectors give a frame whose x direction is mostly rounding, which
    // native does not try to reproduce
    let (xu, nu) = (x * (1.0 / x.norm()), n * (1.0 / n.norm()));
    let sin = nu.cross(xu).norm();
    if sin == 0.0 {
        return exec(
            "Standard_ConstructionError: gp_Vec::Normalized() - vector has zero norm (xDir is parallel to the normal)",
        );
    }
    if sin <= 1e-12 {
        return unsupported("a sketch plane whose xDir is parallel to its normal within 1e-12");
    }
    Frame::from_origin_x_normal(origin, x, n).ok_or_else(|| {
        Fail::Exec("Standard_ConstructionError: xDir is parallel to the normal (gp_Ax3)".into())
    })
}

fn call(f: Value, args: Args) -> R<Value> {
    match f {
        Value::Class(Class::Vector) => {
            let a = args.bind("Vector", &["x", "y", "z"], 0)?;
            match (&a[0], &a[1], &a[2]) {
                (Some(v @ (Value::Seq(..) | Value::Vector(_))), None, None) => {
                    Ok(Value::Vector(vector_like(v, "Vector")?))
                }
                (None, None, None) => Ok(Value::Vector(V3::default())),
                (Some(_), Some(_), z) => {
                    let x = float_arg(&a[0], 0.0, "x")?;
                    let y = float_arg(&a[1], 0.0, "y")?;
                    let z = float_arg(z, 0.0, "z")?;
                    Ok(Value::Vector(v3(x, y, z)))
                }
                _ => exec("TypeError: Expected three floats, OCC gp_, or 3-tuple"),
            }
        }
        Value::Class(Class::Plane) => {
            let a = args.bind("Plane", &["origin", "xDir", "normal"], 1)?;
            let origin = vector_like(a[0].as_ref().unwrap_or(&Value::None), "origin")?;
            let n = match &a[2] {
                Some(v) => vector_like(v, "normal")?,
                None => v3(0.0, 0.0, 1.0),
            };
            let x = match &a[1] {
                Some(Value::None) | None => return unsupported("Plane without xDir"),
                Some(v) => vector_like(v, "xDir")?,
            };
            Ok(Value::Plane(make_plane(origin, x, n)?))
        }
        Value::PlaneNamed => {
            let a = args.bind("named", &["stdName", "origin"], 1)?;
            let origin = match &a[1] {
                Some(v) => vector_like(v, "origin")?,
                None => V3::default(),
            };
            match &a[0] {
                Some(Value::Str(s)) => Ok(Value::Plane(named_plane(s, origin)?)),
                _ => exec("TypeError: stdName must be a string"),
            }
        }
        Value::Class(Class::Workplane) => {
            let a = args.bind("Workplane", &["inPlane", "origin", "obj"], 0)?;
            if a[2].as_ref().is_some_and(|v| !matches!(v, Value::None)) {
                return unsupported("Workplane(obj=...)");
            }
            let origin = match &a[1] {
                Some(v) => vector_like(v, "origin")?,
                None => V3::default(),
            };
            let plane = match &a[0] {
                None => named_plane("XY", origin)?,
                Some(Value::Str(s)) => named_plane(s, origin)?,
                Some(Value::Plane(p)) => *p,
                Some(Value::Vector(_)) => return unsupported("Workplane(Vector)"),
                Some(other) => {
                    return exec(format!(
                        "ValueError: Provided value {} is not a valid work plane",
                        other.type_name()
                    ));
                }
            };
            Ok(Value::Workplane(Wp::root(plane, None)))
        }
        Value::Method(recv, name) => match *recv {
            Value::Workplane(wp) => wp_method(&wp, &name, args),
            other => unsupported(format!("{}.{name}()", other.type_name())),
        },
        other => exec(format!("TypeError: '{}' object is not callable", other.type_name())),
    }
}

// `!(x > 0.0)` is deliberate: a NaN argument must fail the check.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
fn wp_method(wp: &Rc<Wp>, name: &str, args: Args) -> R<Value> {
    let w = |x: Rc<Wp>| Ok(Value::Workplane(x));
    match name {
        "moveTo" => {
            let a = args.bind(name, &["x", "y"], 0)?;
            let (x, y) = (float_arg(&a[0], 0.0, "x")?, float_arg(&a[1], 0.0, "y")?);
            w(wp.new_object(vec![Obj::Point(wp.to_world(x, y, 0.0))]))
        }
        "lineTo" => {
            let a = args.bind(name, &["x", "y", "forConstruction"], 2)?;
            let (x, y) = (float_arg(&a[0], 0.0, "x")?, float_arg(&a[1], 0.0, "y")?);
            w(wp.line_to(x, y, bool_arg(&a[2], false, "forConstruction")?)?)
        }
        "line" | "hLine" | "vLine" | "hLineTo" | "vLineTo" => {
            let params: &[&str] = match name {
                "line" => &["xDist", "yDist", "forConstruction"],
                "hLine" | "vLine" => &["distance", "forConstruction"],
                _ => &[if name == "hLineTo" { "xCoord" } else { "yCoord" }, "forConstruction"],
            };
            let n = if name == "line" { 2 } else { 1 };
            let a = args.bind(name, params, n)?;
            let c = bool_arg(&a[n], false, "forConstruction")?;
            let p = wp.plane.to_local(wp.from_point()?);
            let (x, y) = match name {
                "line" => (p.x + float_arg(&a[0], 0.0, "xDist")?, p.y + float_arg(&a[1], 0.0, "yDist")?),
                "hLine" => (p.x + float_arg(&a[0], 0.0, "distance")?, p.y),
                "vLine" => (p.x, p.y + float_arg(&a[0], 0.0, "distance")?),
                "hLineTo" => (float_arg(&a[0], 0.0, "xCoord")?, p.y),
                _ => (p.x, float_arg(&a[0], 0.0, "yCoord")?),
            };
            w(wp.line_to(x, y, c)?)
        }
        "threePointArc" => {
            let a = args.bind(name, &["point1", "point2", "forConstruction"], 2)?;
            let p1 = vector_like(a[0].as_ref().unwrap_or(&Value::None), "point1")?;
            let p2_ = vector_like(a[1].as_ref().unwrap_or(&Value::None), "point2")?;
            w(wp.three_point_arc(p1, p2_, bool_arg(&a[2], false, "forConstruction")?)?)
        }
        "close" => {
            args.bind(name, &[], 0)?;
            w(wp.close()?)
        }
        "wire" => {
            let a = args.bind(name, &["forConstruction"], 0)?;
            w(wp.wire(bool_arg(&a[0], false, "forConstruction")?)?)
        }
        "circle" => {
            let a = args.bind(name, &["radius", "forConstruction"], 1)?;
            let r = float_arg(&a[0], 0.0, "radius")?;
            // a zero radius makes a circle (OCCT drops it from a face with other loops)
            if !(r >= 0.0) || !r.is_finite() {
                return exec(format!(
                    "Standard_ConstructionError: gp_Circ(): the circle radius should be a positive number, got {r}"
                ));
            }
            if r > super::wp::MAX_COORD {
                return unsupported(format!("a circle of radius beyond {:e}", super::wp::MAX_COORD));
            }
            let n = wp.plane.z;
            w(wp.each_wire(bool_arg(&a[1], false, "forConstruction")?, |c| {
                super::wp::check_finite(&[c])?;
                Ok(Wire::Circle { c, r, n })
            })?)
        }
        "rect" => {
            let a = args.bind(name, &["xLen", "yLen", "centered", "forConstruction"], 2)?;
            let (xl, yl) = (float_arg(&a[0], 0.0, "xLen")?, float_arg(&a[1], 0.0, "yLen")?);
            let (cx, cy) = match &a[2] {
                None => (true, true),
                Some(Value::Bool(b)) => (*b, *b),
                Some(Value::Seq(v, _)) if v.len() == 2 => (
                    bool_arg(&Some(v[0].clone()), true, "centered")?,
                    bool_arg(&Some(v[1].clone()), true, "centered")?,
                ),
                Some(_) => return unsupported("rect(centered=...) other than a bool or a pair of bools"),
            };
            let construction = bool_arg(&a[3], false, "forConstruction")?;
            // OCCT's polygon merges corners closer than its confusion (1e-7) and makes a
            // wire that runs out and back, which extrudes to a "valid" solid of no volume
            // (both sides that small: an error); not modelled
            if !construction && (xl.abs() <= 1e-7 || yl.abs() <= 1e-7) && xl.abs().max(yl.abs()) > 1e-7 {
                return unsupported("rect() with a side of at most 1e-7 (OCCT builds a zero-volume solid)");
            }
            let off = p2(if cx { 0.0 } else { xl / 2.0 }, if cy { 0.0 } else { yl / 2.0 });
            let pts: Vec<P2> = [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)]
                .iter()
                .map(|(sx, sy)| p2(sx * xl / 2.0, sy * yl / 2.0) + off)
                .collect();
            let plane = wp.plane;
            w(wp.each_wire(construction, |c| polygon_wire(&plane, c, &pts))?)
        }
        "polygon" => {
            let a = args.bind(name, &["nSides", "diameter", "forConstruction", "circumscribed"], 2)?;
            let n = match &a[0] {
                Some(Value::Int(n)) if *n >= 3 && *n <= super::wp::MAX_SKETCH_EDGES as i64 => *n as usize,
                Some(Value::Int(n)) if *n > super::wp::MAX_SKETCH_EDGES as i64 => {
                    return unsupported(format!("a polygon with {n} sides"));
                }
                Some(Value::Int(n)) => return exec(format!("polygon with {n} sides")),
                _ => return exec("TypeError: nSides must be an int"),
            };
            let d = float_arg(&a[1], 0.0, "diameter")?;
            let circ = bool_arg(&a[3], false, "circumscribed")?;
            let ang = std::f64::consts::TAU / n as f64;
            let r = if circ { d / 2.0 / (ang / 2.0).cos() } else { d / 2.0 };
            let pts: Vec<P2> = (0..n)
                .map(|i| {
                    let o = ang * i as f64 + if circ { ang / 2.0 } else { 0.0 };
                    p2(r * o.cos(), r * o.sin())
                })
                .collect();
            let plane = wp.plane;
            w(wp.each_wire(bool_arg(&a[2], false, "forConstruction")?, |c| polygon_wire(&plane, c, &pts))?)
        }
        "add" => {
            let a = args.bind(name, &["obj"], 1)?;
            match a.into_iter().next().flatten() {
                Some(Value::Workplane(other)) => {
                    let objs = other.objects.borrow().clone();
                    wp.objects.borrow_mut().extend(objs);
                }
                Some(Value::Shape(s)) => wp.objects.borrow_mut().push(Obj::Shape(s)),
                Some(Value::Vector(v)) => wp.objects.borrow_mut().push(Obj::Point(v)),
                Some(other) => return unsupported(format!("Workplane.add({})", other.type_name())),
                None => {}
            }
            w(wp.clone())
        }
        "extrude" => {
            let a = args.bind(name, &["until", "combine", "clean", "both", "taper"], 1)?;
            let d = match &a[0] {
                Some(v @ (Value::Int(_) | Value::Float(_))) => num(v).unwrap_or(0.0),
                Some(Value::Str(s)) => return unsupported(format!("extrude(\"{s}\")")),
                Some(other) => {
                    return exec(format!(
                        "ValueError: Do not know how to handle until argument of type {}",
                        other.type_name()
                    ));
                }
                None => 0.0,
            };
            if a[4].as_ref().is_some_and(|t| !matches!(t, Value::None)) {
                return unsupported("tapered extrude");
            }
            let combine = match &a[1] {
                None | Some(Value::Bool(true)) => true,
                Some(Value::Bool(false)) | Some(Value::None) => false,
                Some(Value::Str(s)) if s.as_ref() == "a" => true,
                Some(other) => return unsupported(format!("extrude(combine={other:?})")),
            };
            let both = bool_arg(&a[3], false, "both")?;
            let (profile, h) = wp.pop_faces()?;
            let solid = extrude_prism(&wp.plane, profile, h, d, both)?;
            let result = if combine {
                match wp.find_solid() {
                    Some(base) => Solid::union(vec![base, solid]),
                    None => solid,
                }
            } else {
                solid
            };
            w(wp.new_object(vec![Obj::Shape(Rc::new(result))]))
        }
        "box" => {
            let a = args.bind(name, &["length", "width", "height", "centered", "combine", "clean"], 3)?;
            let (l, wd, h) = (
                float_arg(&a[0], 0.0, "length")?,
                float_arg(&a[1], 0.0, "width")?,
                float_arg(&a[2], 0.0, "height")?,
            );
            let c = match &a[3] {
                None => (true, true, true),
                Some(Value::Bool(b)) => (*b, *b, *b),
                Some(Value::Seq(v, _)) if v.len() == 3 => (
                    bool_arg(&Some(v[0].clone()), true, "centered")?,
                    bool_arg(&Some(v[1].clone()), true, "centered")?,
                    bool_arg(&Some(v[2].clone()), true, "centered")?,
                ),
                Some(_) => return unsupported("box(centered=...) other than a bool or a triple of bools"),
            };
            let combine = bool_arg(&a[4], true, "combine")?;
            // OCCT refuses sides no longer than Precision::Confusion() (1e-7)
            if !(l > 1e-7 && wd > 1e-7 && h > 1e-7 && (l * wd * h).is_finite()) {
                return exec("Standard_DomainError: box dimensions must be positive (BRepPrimAPI_MakeBox)");
            }
            let mut boxes = Vec::new();
            for p in wp.each_point()? {
                let lp = wp.plane.to_local(p);
                let ox = lp.x - if c.0 { l / 2.0 } else { 0.0 };
                let oy = lp.y - if c.1 { wd / 2.0 } else { 0.0 };
                let oz = lp.z - if c.2 { h / 2.0 } else { 0.0 };
                let pts = [p2(ox, oy), p2(ox + l, oy), p2(ox + l, oy + wd), p2(ox, oy + wd)];
                let segs =
                    (0..4).map(|i| crate::geom::Seg::Line { a: pts[i], b: pts[(i + 1) % 4] }).collect();
                let prof = crate::geom::Profile::new(vec![crate::geom::Loop::Path(segs)]);
                boxes.push(extrude_prism(&wp.plane, prof, oz, h, false)?);
            }
            let mut result = Solid::union(boxes);
            if combine && let Some(base) = wp.find_solid() {
                result = Solid::union(vec![base, result]);
            }
            w(wp.new_object(vec![Obj::Shape(Rc::new(result))]))
        }
        "union" | "cut" | "intersect" => {
            let first = match name {
                "union" => "toUnion",
                "cut" => "toCut",
                _ => "toIntersect",
            };
            let a = args.bind(name, &[first, "clean", "tol", "glue"], if name == "union" { 0 } else { 1 })?;
            if a[2].as_ref().is_some_and(|t| !matches!(t, Value::None)) {
                return unsupported(format!("{name}(tol=...)"));
            }
            let others = match &a[0] {
                Some(Value::Workplane(o)) => {
                    // union takes `solids().vals()` (empty results hold none); cut and
                    // intersect take every shape (`_selectShapes(vals())`), so cutting an
                    // empty result changes nothing and intersecting with one leaves nothing
                    let mut s = o.stack_solids();
                    if name == "union" {
                        s.retain(|x| !crate::geom::is_empty(x));
                    }
                    if s.is_empty() {
                        if name == "union" {
                            return exec(
                                "ValueError: Workplane object must have at least one solid on the stack to union!",
                            );
                        }
                        return exec(format!("ValueError: nothing to {name}: the workplane holds no solid"));
                    }
                    s
                }
                Some(Value::Shape(s)) => vec![(**s).clone()],
                None | Some(Value::None) if name == "union" => Vec::new(),
                Some(other) => {
                    return exec(format!("ValueError: Cannot {name} type '{}'", other.type_name()));
                }
                None => Vec::new(),
            };
            let base = wp.find_solid();
            let result = match (name, base) {
                ("union", Some(b)) => {
                    let mut v = vec![b];
                    v.extend(others);
                    Solid::union(v)
                }
                ("union", None) => {
                    if others.is_empty() {
                        return exec("IndexError: list index out of range");
                    }
                    Solid::union(others)
                }
                (_, None) => {
                    return exec("ValueError: Cannot find a solid on the stack or in the parent chain");
                }
                ("cut", Some(b)) => Solid::difference(b, others),
                (_, Some(b)) => {
                    let mut v = vec![b];
                    v.extend(others);
                    Solid::intersection(v)
                }
            };
            w(wp.new_object(vec![Obj::Shape(Rc::new(result))]))
        }
        "val" => {
            args.bind(name, &[], 0)?;
            match wp.objects.borrow().first() {
                None => Ok(Value::Vector(wp.plane.origin)),
                Some(Obj::Point(p)) => Ok(Value::Vector(*p)),
                Some(Obj::Shape(s)) => Ok(Value::Shape(s.clone())),
                Some(o) => unsupported(format!("val() of a {}", o.type_name())),
            }
        }
        other => unsupported(format!("Workplane.{other}()")),
    }
}
