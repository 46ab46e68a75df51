//! `cadrl._native`: the Rust half of the `cadrl` Python package.
//!
//! Why: TRL, verl and OpenRLHF call reward functions from Python with lists of strings.
//! This module takes those lists, lets go of the GIL and runs cadrl's native CadQuery
//! executor and rewards (`cadrl-rewards`, no Python, no OCCT) in parallel with rayon,
//! so a reward call costs milliseconds and never executes the generated Python.
//! The pure-Python package (`python/cadrl/`) turns the trainers' call shapes (chat
//! messages, code fences, data set columns) into the plain lists this module takes.
//!
//! References arrive as program text, the same text once per generation of a prompt;
//! their outcomes are cached per (text, variable) for the life of the process.

use std::collections::{HashMap, HashSet};
use std::io::Cursor;
use std::sync::{Arc, Mutex, OnceLock};

use cadrl_rewards::exec::{Outcome as ExecOutcome, execute_native};
use cadrl_rewards::geom::mass_props;
use cadrl_rewards::render::render_with;
use cadrl_rewards::reward::{Rollout, build};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rayon::prelude::*;

/// Reference outcomes kept at most; the cache is emptied when it is full (a data set
/// epoch revisits references in a random order, so no eviction order is better).
const CACHE_CAP: usize = 8192;

type CacheKey = (String, String);

fn cache() -> &'static Mutex<HashMap<CacheKey, ExecOutcome>> {
    static CACHE: OnceLock<Mutex<HashMap<CacheKey, ExecOutcome>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// What running one program gave, as Python sees it.
#[pyclass(frozen, get_all, module = "cadrl._native", name = "Outcome")]
#[derive(Clone, Debug)]
pub struct PyOutcome {
    /// `valid`, `syntax_error`, `exec_error` or `unsupported`.
    kind: String,
    /// Why the program is not valid (`None` when it is), e.g.
    /// `exec_error: line 3: NameError: name 'x' is not defined`.
    message: Option<String>,
    /// Line of the error, when known.
    line: Option<u32>,
    /// Exact volume of the solid (`None` unless valid).
    volume: Option<f64>,
    /// `(xmin, ymin, zmin, xmax, ymax, zmax)` of the solid (`None` unless valid).
    bbox: Option<(f64, f64, f64, f64, f64, f64)>,
}

#[pymethods]
impl PyOutcome {
    /// Whether the program ran to a non-empty solid.
    #[getter]
    fn valid(&self) -> bool {
        self.kind == "valid"
    }

    fn __bool__(&self) -> bool {
        self.valid()
    }

    fn __repr__(&self) -> String {
        match (&self.message, self.volume) {
            (Some(m), _) => format!("Outcome(kind={:?}, message={m:?})", self.kind),
            (None, Some(v)) => {
                format!("Outcome(kind={:?}, volume={v}, bbox={:?})", self.kind, self.bbox.unwrap_or_default())
            }
            (None, None) => format!("Outcome(kind={:?})", self.kind),
        }
    }
}

fn to_py(o: &ExecOutcome) -> PyOutcome {
    let line = match o {
        ExecOutcome::SyntaxError(d) | ExecOutcome::ExecError(d) => d.line,
        ExecOutcome::Unsupported { line, .. } => *line,
        ExecOutcome::Valid(_) => None,
    };
    let props = o.solid().map(|s| mass_props(s));
    PyOutcome {
        kind: o.kind().to_string(),
        message: o.reason(),
        line,
        volume: props.map(|p| p.volume),
        bbox: props
            .map(|p| (p.bbox.min.x, p.bbox.min.y, p.bbox.min.z, p.bbox.max.x, p.bbox.max.y, p.bbox.max.z)),
    }
}

/// Run one program with the native executor (nothing is executed by Python).
#[pyfunction]
#[pyo3(signature = (code, var = "solid".to_string()))]
fn execute(py: Python<'_>, code: String, var: String) -> PyOutcome {
    py.detach(|| to_py(&execute_native(&code, &var)))
}

/// Run many programs in parallel; one outcome per program, in order.
#[pyfunction]
#[pyo3(signature = (codes, var = "solid".to_string()))]
fn execute_many(py: Python<'_>, codes: Vec<String>, var: String) -> Vec<PyOutcome> {
    py.detach(|| codes.par_iter().map(|c| to_py(&execute_native(c, &var))).collect())
}

/// Render the program's solid in the GenCAD-Code style; PNG bytes.
/// Raises `ValueError` with the reason when the program does not run to a solid.
#[pyfunction]
#[pyo3(signature = (code, var = "solid".to_string(), size = 448))]
fn render<'py>(py: Python<'py>, code: String, var: String, size: u32) -> PyResult<Bound<'py, PyBytes>> {
    if !(16..=4096).contains(&size) {
        return Err(PyValueError::new_err(format!("render: size {size} is outside 16..=4096 pixels")));
    }
    let png = py.detach(|| -> Result<Vec<u8>, String> {
        let outcome = execute_native(&code, &var);
        let Some(solid) = outcome.solid() else {
            return Err(format!(
                "render: the program gives no solid ({})",
                outcome.reason().unwrap_or_default()
            ));
        };
        let img = render_with(solid, Default::default(), size);
        let mut buf = Cursor::new(Vec::new());
        img.write_to(&mut buf, image::ImageFormat::Png)
            .map_err(|e| format!("render: encoding the PNG: {e}"))?;
        Ok(buf.into_inner())
    });
    png.map(|b| PyBytes::new(py, &b)).map_err(PyValueError::new_err)
}

/// Outcomes of the references, from the cache or run now (in parallel).
fn reference_outcomes(refs: &[Option<String>], var: &str) -> Vec<Option<ExecOutcome>> {
    let key = |t: &str| (t.to_string(), var.to_string());
    let mut known: HashMap<&str, ExecOutcome> = HashMap::new();
    let mut missing: Vec<&str> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    {
        let c = cache().lock().unwrap_or_else(|p| p.into_inner());
        for t in refs.iter().flatten() {
            if !seen.insert(t.as_str()) {
                continue;
            }
            match c.get(&key(t)) {
                Some(o) => {
                    known.insert(t, o.clone());
                }
                None => missing.push(t),
            }
        }
    }
    let ran: Vec<ExecOutcome> = missing.par_iter().map(|t| execute_native(t, var)).collect();
    {
        let mut c = cache().lock().unwrap_or_else(|p| p.into_inner());
        if c.len() + ran.len() > CACHE_CAP {
            c.clear();
        }
        for (t, o) in missing.iter().zip(&ran) {
            c.insert(key(t), o.clone());
        }
    }
    known.extend(missing.into_iter().zip(ran));
    refs.iter().map(|r| r.as_ref().and_then(|t| known.get(t.as_str()).cloned())).collect()
}

/// Run the distinct completions once each, in parallel.
fn completion_outcomes(codes: &[String], var: &str) -> Vec<Arc<ExecOutcome>> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut distinct: Vec<&str> = Vec::new();
    let slots: Vec<usize> = codes
        .iter()
        .map(|c| {
            *index.entry(c.as_str()).or_insert_with(|| {
                distinct.push(c);
                distinct.len() - 1
            })
        })
        .collect();
    let ran: Vec<Arc<ExecOutcome>> = distinct.par_iter().map(|c| Arc::new(execute_native(c, var))).collect();
    slots.into_iter().map(|i| Arc::clone(&ran[i])).collect()
}

/// Score completions against references with a reward from cadrl's registry.
///
/// `kind` and `params` (a JSON object) are what a recipe's `[[reward]]` table holds.
/// Returns `(values, reasons)`: one value per completion and, for penalised ones,
/// why (`None` otherwise). Bad programs are scores, never exceptions; a bad `kind` or
/// `params` is a `ValueError`.
#[pyfunction]
#[pyo3(signature = (kind, params, completions, references, var = "solid".to_string()))]
fn score(
    py: Python<'_>,
    kind: &str,
    params: &str,
    completions: Vec<String>,
    references: Vec<Option<String>>,
    var: String,
) -> PyResult<(Vec<f64>, Vec<Option<String>>)> {
    if completions.len() != references.len() {
        return Err(PyValueError::new_err(format!(
            "score: {} completions but {} references (one reference per completion)",
            completions.len(),
            references.len()
        )));
    }
    let params: serde_json::Value = serde_json::from_str(params)
        .map_err(|e| PyValueError::new_err(format!("score: params are not JSON: {e}")))?;
    let reward = build(kind, params).map_err(PyValueError::new_err)?;
    let scores = py.detach(|| {
        let (outcomes, refs) =
            rayon::join(|| completion_outcomes(&completions, &var), || reference_outcomes(&references, &var));
        let ids: Vec<String> = (0..completions.len()).map(|i| i.to_string()).collect();
        let batch: Vec<Rollout> = (0..completions.len())
            .map(|i| Rollout {
                id: &ids[i],
                code: &completions[i],
                outcome: &outcomes[i],
                reference: refs[i].as_ref().and_then(|o| o.solid()).map(|s| &**s),
            })
            .collect();
        reward.score(&batch)
    });
    Ok(scores.into_iter().map(|s| (s.value, s.reason)).unzip())
}

/// Forget the cached reference outcomes (tests, or to free memory).
#[pyfunction]
fn clear_cache() {
    cache().lock().unwrap_or_else(|p| p.into_inner()).clear();
}

/// Number of cached reference outcomes.
#[pyfunction]
fn cache_size() -> usize {
    cache().lock().unwrap_or_else(|p| p.into_inner()).len()
}

/// Names of the rewards `score` accepts, with one line each.
#[pyfunction]
fn reward_kinds() -> Vec<(&'static str, &'static str)> {
    cadrl_rewards::reward::REGISTRY.iter().map(|(n, d, _)| (*n, *d)).collect()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyOutcome>()?;
    m.add_function(wrap_pyfunction!(execute, m)?)?;
    m.add_function(wrap_pyfunction!(execute_many, m)?)?;
    m.add_function(wrap_pyfunction!(render, m)?)?;
    m.add_function(wrap_pyfunction!(score, m)?)?;
    m.add_function(wrap_pyfunction!(clear_cache, m)?)?;
    m.add_function(wrap_pyfunction!(cache_size, m)?)?;
    m.add_function(wrap_pyfunction!(reward_kinds, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
