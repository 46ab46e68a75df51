//! Reading a parsed TOML table key by key while collecting every error.
//!
//! A recipe is parsed once into [`Val`] (values with their line numbers); a `Fields`
//! reader then takes the known keys of one table, records each wrong type or bad value
//! with its key path and line, applies `key=value` overrides from the command line, and
//! at the end reports every key it was never asked for as unknown. Nothing stops at the
//! first error: the caller gets them all at once.

use std::collections::BTreeMap;
use std::ops::Range;

/// A TOML value with the line it starts on.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    /// A string (TOML datetimes are read as their text).
    Str(String),
    /// An integer.
    Int(i64),
    /// A float (an integer is accepted wherever a float is asked for).
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// An array.
    Arr(Vec<Spanned>),
    /// A table, keys in file order.
    Table(Vec<(String, Spanned)>),
}

/// A value and the 1-based line it was written on (0 for command-line overrides).
#[derive(Clone, Debug, PartialEq)]
pub struct Spanned {
    /// The value.
    pub val: Val,
    /// 1-based line; 0 for an override.
    pub line: usize,
}

impl Val {
    /// The type as error messages name it (`a string`, `an integer`, ...).
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Val::Str(_) => "a string",
            Val::Int(_) => "an integer",
            Val::Float(_) => "a float",
            Val::Bool(_) => "a boolean",
            Val::Arr(_) => "an array",
            Val::Table(_) => "a table",
        }
    }

    /// As JSON, for sub-tables deserialised by serde (reward parameters, knobs).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        match self {
            Val::Str(s) => serde_json::Value::String(s.clone()),
            Val::Int(i) => serde_json::Value::from(*i),
            Val::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
            Val::Bool(b) => serde_json::Value::Bool(*b),
            Val::Arr(a) => serde_json::Value::Array(a.iter().map(|v| v.val.to_json()).collect()),
            Val::Table(t) => {
                serde_json::Value::Object(t.iter().map(|(k, v)| (k.clone(), v.val.to_json())).collect())
            }
        }
    }
}

/// Line of a byte offset.
fn line_of(src: &str, off: usize) -> usize {
    src.as_bytes()[..off.min(src.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

fn convert(src: &str, v: &toml::de::DeValue<'_>, span: Range<usize>, errors: &mut Vec<String>) -> Spanned {
    use toml::de::DeValue as D;
    let line = line_of(src, span.start);
    let val = match v {
        D::String(s) => Val::Str(s.to_string()),
        D::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            match i64::from_str_radix(digits.trim_start_matches('+'), i.radix()) {
                Ok(x) => Val::Int(x),
                Err(e) => {
                    errors.push(format!("line {line}: integer `{}`: {e}", i.as_str()));
                    Val::Int(0)
                }
            }
        }
        D::Float(f) => {
            let s = f.as_str().replace('_', "");
            match s.parse::<f64>() {
                Ok(x) => Val::Float(x),
                Err(e) => {
                    errors.push(format!("line {line}: float `{s}`: {e}"));
                    Val::Float(0.0)
                }
            }
        }
        D::Boolean(b) => Val::Bool(*b),
        D::Datetime(d) => Val::Str(d.to_string()),
        D::Array(a) => Val::Arr(a.iter().map(|x| convert(src, x.get_ref(), x.span(), errors)).collect()),
        D::Table(t) => Val::Table(
            t.iter()
                .map(|(k, x)| (k.get_ref().to_string(), convert(src, x.get_ref(), x.span(), errors)))
                .collect(),
        ),
    };
    Spanned { val, line }
}

/// Parse TOML text into a table of spanned values; a syntax error is returned with its
/// line.
pub(crate) fn parse(src: &str) -> Result<Vec<(String, Spanned)>, String> {
    let doc = toml::de::DeTable::parse(src).map_err(|e| {
        let line = e.span().map(|s| line_of(src, s.start)).unwrap_or(0);
        format!("line {line}: {}", e.message().trim())
    })?;
    let mut errors = vec![];
    let root = convert(src, &toml::de::DeValue::Table(doc.get_ref().clone()), doc.span(), &mut errors);
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    match root.val {
        Val::Table(t) => Ok(t),
        _ => Err("the recipe is not a TOML table".into()),
    }
}

/// Overrides by dotted path (`dpo.beta`, `run.seed`, `stage.2.k`), each with the text it
/// came from.
pub type Overrides = BTreeMap<String, (Val, String)>;

/// Parse `key=value` command-line overrides (the value as a TOML value, else a string).
pub fn parse_overrides(args: &[String]) -> Result<Overrides, Vec<String>> {
    let mut out = Overrides::new();
    let mut errors = vec![];
    for a in args {
        let Some((k, v)) = a.split_once('=') else {
            errors.push(format!("override `{a}`: expected key=value"));
            continue;
        };
        let k = k.trim();
        if k.is_empty() || !k.contains('.') {
            errors.push(format!("override `{a}`: the key must be section.key (e.g. dpo.beta=0.2)"));
            continue;
        }
        let val = match parse(&format!("x = {v}")) {
            Ok(mut t) if t.len() == 1 => t.remove(0).1.val,
            _ => Val::Str(v.to_string()),
        };
        out.insert(k.to_string(), (val, a.clone()));
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

/// A closed set of values a recipe key names (`dtype = "bf16"`): every value and each
/// one's name, read by `Fields::choice`. Each enum defines `ALL` and `name` once, beside
/// itself (in the crate that owns it), with a serde form equal to `name` (tested below), so
/// the resolved recipe written through serde reads back to the same value;
/// `choices!` makes it a `Choice`.
pub trait Choice: Copy + 'static {
    /// Every value, in the order error messages list them.
    const ALL: &'static [Self];
    /// The value's name in recipes (and its serde form).
    fn name(self) -> &'static str;
}

/// `impl Choice` from each type's own `ALL` and `name` (the list is in `recipe/mod.rs`,
/// beside the types' imports).
macro_rules! choices {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::recipe::fields::Choice for $t {
            const ALL: &'static [Self] = &<$t>::ALL;
            fn name(self) -> &'static str {
                <$t>::name(self)
            }
        }
    )*};
}
pub(crate) use choices;

/// Reads the keys of one table; errors go to the shared list.
pub(crate) struct Fields<'a> {
    path: String,
    line: usize,
    items: &'a [(String, Spanned)],
    used: Vec<bool>,
    /// Overrides addressing this table, by key (and the override text).
    overrides: Vec<(String, Val, String)>,
    /// The shared error list (every table of the recipe appends to it).
    pub(crate) errors: &'a mut Vec<String>,
}

impl<'a> Fields<'a> {
    /// `path` names the table in messages (`[dpo]`, `stage 3 (dpo)`); `prefixes` are the
    /// override prefixes that address it (`dpo.`, `stage.3.`).
    pub(crate) fn new(
        path: &str,
        line: usize,
        items: &'a [(String, Spanned)],
        overrides: &mut Overrides,
        prefixes: &[String],
        errors: &'a mut Vec<String>,
    ) -> Fields<'a> {
        let mut mine = vec![];
        for p in prefixes {
            let keys: Vec<String> = overrides.keys().filter(|k| k.starts_with(p.as_str())).cloned().collect();
            for k in keys {
                let rest = k[p.len()..].to_string();
                if rest.contains('.') {
                    continue;
                }
                if let Some((v, text)) = overrides.get(&k) {
                    mine.push((rest, v.clone(), text.clone()));
                }
            }
        }
        // consumed here; the caller reports overrides nobody took
        for p in prefixes {
            overrides.retain(|k, _| !k.starts_with(p.as_str()) || k[p.len()..].contains('.'));
        }
        Fields {
            path: path.to_string(),
            line,
            items,
            used: vec![false; items.len()],
            overrides: mine,
            errors,
        }
    }

    fn lookup(&mut self, key: &str) -> Option<(Val, String)> {
        let mut found = None;
        for (i, (k, v)) in self.items.iter().enumerate() {
            if k == key {
                self.used[i] = true;
                found = Some((v.val.clone(), format!("{}.{key} (line {})", self.path, v.line)));
            }
        }
        if let Some((_, v, text)) = self.overrides.iter().find(|(k, _, _)| k == key) {
            found = Some((v.clone(), format!("override `{text}`")));
        }
        found
    }

    /// Record an error (callers put the key or [`Fields::place`] first).
    pub(crate) fn err(&mut self, msg: String) {
        self.errors.push(msg);
    }

    fn wrong(&mut self, at: &str, want: &str, got: &Val) {
        self.errors.push(format!("{at}: expected {want}, got {}", got.type_name()));
    }

    /// Where this table is, for messages about it as a whole.
    pub(crate) fn place(&self) -> String {
        format!("{} (line {})", self.path, self.line)
    }

    /// A string, `None` when absent or of the wrong type (recorded).
    pub(crate) fn str_opt(&mut self, key: &str) -> Option<String> {
        match self.lookup(key)? {
            (Val::Str(s), _) => Some(s),
            (v, at) => {
                self.wrong(&at, "a string", &v);
                None
            }
        }
    }

    /// A string, `default` when absent or of the wrong type.
    pub(crate) fn str(&mut self, key: &str, default: &str) -> String {
        self.str_opt(key).unwrap_or_else(|| default.to_string())
    }

    /// One of a closed set, by name (`dtype = "bf16"`).
    pub(crate) fn choice<T: Choice>(&mut self, key: &str, default: T) -> T {
        let Some((v, at)) = self.lookup(key) else { return default };
        match v {
            Val::Str(s) => match T::ALL.iter().find(|c| c.name() == s) {
                Some(&c) => c,
                None => {
                    let names: Vec<&str> = T::ALL.iter().map(|c| c.name()).collect();
                    self.err(format!("{at}: `{s}` is not one of {}", names.join(", ")));
                    default
                }
            },
            v => {
                self.wrong(&at, "a string", &v);
                default
            }
        }
    }

    /// A string read into a structured value by `parse` (`device = "cuda:1"`,
    /// `subset = "random:100"`); `parse`'s message follows the key and line.
    pub(crate) fn parsed<T>(
        &mut self,
        key: &str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        let Some((v, at)) = self.lookup(key) else { return default };
        match v {
            Val::Str(s) => parse(&s).unwrap_or_else(|e| {
                self.err(format!("{at}: {e}"));
                default
            }),
            v => {
                self.wrong(&at, "a string", &v);
                default
            }
        }
    }

    /// A finite number (integer or float) satisfying `ok`; otherwise the error names
    /// `rule` and `default` is returned.
    pub(crate) fn f64(&mut self, key: &str, default: f64, ok: impl Fn(f64) -> bool, rule: &str) -> f64 {
        let Some((v, at)) = self.lookup(key) else { return default };
        let x = match v {
            Val::Float(x) => x,
            Val::Int(i) => i as f64,
            v => {
                self.wrong(&at, "a number", &v);
                return default;
            }
        };
        if !x.is_finite() || !ok(x) {
            self.err(format!("{at}: {x} is out of range ({rule})"));
            return default;
        }
        x
    }

    /// A non-negative integer satisfying `ok`; otherwise the error names `rule` and
    /// `default` is returned.
    pub(crate) fn u64(&mut self, key: &str, default: u64, ok: impl Fn(u64) -> bool, rule: &str) -> u64 {
        let Some((v, at)) = self.lookup(key) else { return default };
        match v {
            Val::Int(i) if i >= 0 && ok(i as u64) => i as u64,
            Val::Int(i) => {
                self.err(format!("{at}: {i} is out of range ({rule})"));
                default
            }
            v => {
                self.wrong(&at, "an integer", &v);
                default
            }
        }
    }

    /// [`Fields::u64`] as a `usize`.
    pub(crate) fn usize(
        &mut self,
        key: &str,
        default: usize,
        ok: impl Fn(usize) -> bool,
        rule: &str,
    ) -> usize {
        self.u64(key, default as u64, |x| ok(x as usize), rule) as usize
    }

    /// `true` or `false`; `default` when absent or of the wrong type.
    pub(crate) fn bool(&mut self, key: &str, default: bool) -> bool {
        match self.lookup(key) {
            None => default,
            Some((Val::Bool(b), _)) => b,
            Some((v, at)) => {
                self.wrong(&at, "true or false", &v);
                default
            }
        }
    }

    /// An array of strings (wrong elements are recorded and left out); `default` when
    /// absent.
    pub(crate) fn strings(&mut self, key: &str, default: &[&str]) -> Vec<String> {
        match self.lookup(key) {
            None => default.iter().map(|s| s.to_string()).collect(),
            Some((Val::Arr(a), at)) => {
                let mut out = vec![];
                for x in a {
                    match x.val {
                        Val::Str(s) => out.push(s),
                        v => self.wrong(&at, "an array of strings", &v),
                    }
                }
                out
            }
            Some((v, at)) => {
                self.wrong(&at, "an array of strings", &v);
                default.iter().map(|s| s.to_string()).collect()
            }
        }
    }

    /// A sub-table deserialised by serde (knobs owned by other modules), as JSON.
    pub(crate) fn json_table(&mut self, key: &str) -> Option<(serde_json::Value, String)> {
        match self.lookup(key)? {
            (v @ Val::Table(_), at) => Some((v.to_json(), at)),
            (v, at) => {
                self.wrong(&at, "a table", &v);
                None
            }
        }
    }

    /// Every key not taken is unknown: report them (with what is known, to catch typos).
    pub(crate) fn finish(mut self, known: &[&str]) {
        for (i, (k, v)) in self.items.iter().enumerate() {
            if !self.used[i] {
                self.errors.push(format!(
                    "{}.{k} (line {}): unknown key (known: {})",
                    self.path,
                    v.line,
                    known.join(", ")
                ));
            }
        }
        let unknown: Vec<String> = self
            .overrides
            .drain(..)
            .filter(|(k, _, _)| !known.contains(&k.as_str()))
            .map(|(_, _, t)| t)
            .collect();
        for t in unknown {
            self.errors.push(format!(
                "override `{t}`: {} has no such key (known: {})",
                self.path,
                known.join(", ")
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every value's serde form (how the resolved recipe is written) is its name (how it
    /// is read), and names are distinct.
    fn serde_is_name<T: Choice + serde::Serialize>() {
        let names: Vec<&str> = T::ALL.iter().map(|c| c.name()).collect();
        for c in T::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.name()));
            assert_eq!(names.iter().filter(|n| **n == c.name()).count(), 1, "{} twice", c.name());
        }
    }

    #[test]
    fn every_choice_is_written_as_it_is_read() {
        serde_is_name::<crate::backend::BackendKind>();
        serde_is_name::<cadrl_backend::DType>();
        serde_is_name::<cadrl_backend::DpoLossKind>();
        serde_is_name::<cadrl_rewards::metrics::iou::IouMode>();
        serde_is_name::<cadrl_rewards::executor::ExecutorKind>();
        serde_is_name::<crate::data::source::OnError>();
        serde_is_name::<super::super::Finetune>();
        serde_is_name::<crate::data::source::SourceKind>();
        serde_is_name::<super::super::stages::MonitorMetric>();
        serde_is_name::<super::super::stages::PairStrategy>();
        serde_is_name::<super::super::stages::DpoReference>();
    }

    #[test]
    fn a_bad_choice_names_key_line_and_the_choices() {
        let t = parse("dtype = \"f64\"\nkind = 3\n").unwrap();
        let (mut ov, mut errors) = (Overrides::new(), vec![]);
        let mut f = Fields::new("[model]", 1, &t, &mut ov, &[], &mut errors);
        assert_eq!(f.choice("dtype", cadrl_backend::DType::BF16), cadrl_backend::DType::BF16);
        let kind = f.choice("kind", cadrl_rewards::executor::ExecutorKind::Occt);
        assert_eq!(kind, cadrl_rewards::executor::ExecutorKind::Occt);
        f.finish(&["dtype", "kind"]);
        assert_eq!(
            errors,
            [
                "[model].dtype (line 1): `f64` is not one of f32, bf16, f16",
                "[model].kind (line 2): expected a string, got an integer",
            ]
        );
    }
}
