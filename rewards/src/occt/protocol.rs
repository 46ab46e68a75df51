//! The JSON-lines protocol between the pool and a worker (`worker.py`), and the
//! conversion of a reply into an [`Outcome`] whose solid is a mesh leaf.
//!
//! One request line per job; one reply line per request, carrying the job id the
//! pool sent. Replies are bounded in size by the pool (a reader that stops at the
//! limit), so a program cannot flood the trainer's memory through the protocol.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::exec::{Diag, MAX_MESSAGE, Outcome};
use crate::geom::mesh::BrepProps;
use crate::geom::{Aabb, Mesh, Solid, v3};

#[derive(Serialize)]
pub(crate) struct Request<'a> {
    pub(crate) id: u64,
    pub(crate) code: &'a str,
    pub(crate) var: &'a str,
    /// Linear deflection of the tessellation, relative to the bounding-box diagonal.
    pub(crate) tol: f64,
    /// Angular deflection of the tessellation, radians.
    pub(crate) ang: f64,
}

/// A worker's first line, or a fatal message instead.
#[derive(Deserialize)]
pub(crate) struct Hello {
    #[serde(default)]
    pub(crate) ready: bool,
    pub(crate) fatal: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct Reply {
    pub(crate) id: Option<i64>,
    pub(crate) kind: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) line: Option<u32>,
    pub(crate) col: Option<u32>,
    #[serde(default)]
    pub(crate) memory: bool,
    pub(crate) volume: Option<f64>,
    pub(crate) area: Option<f64>,
    pub(crate) bbox: Option<[f64; 6]>,
    #[serde(default)]
    pub(crate) verts: Vec<f64>,
    #[serde(default)]
    pub(crate) tris: Vec<u32>,
    #[serde(default)]
    pub(crate) faces: Vec<u32>,
    pub(crate) fatal: Option<String>,
}

/// Clip a message the program controls to [`MAX_MESSAGE`] bytes.
pub(crate) fn clip(m: &str) -> String {
    if m.len() <= MAX_MESSAGE {
        return m.to_owned();
    }
    let mut cut = MAX_MESSAGE;
    while !m.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}... ({} bytes)", &m[..cut], m.len())
}

pub(crate) fn exec_error(message: String) -> Outcome {
    Outcome::ExecError(Diag { message, line: None, col: None })
}

/// The outcome a well-formed reply stands for.
pub(crate) fn to_outcome(r: Reply) -> Outcome {
    let diag =
        |r: &Reply| Diag { message: clip(r.message.as_deref().unwrap_or("")), line: r.line, col: r.col };
    match r.kind.as_deref() {
        Some("syntax_error") => Outcome::SyntaxError(diag(&r)),
        Some("exec_error") => Outcome::ExecError(diag(&r)),
        Some("valid") => match mesh_of(&r) {
            Ok(m) => Outcome::Valid(Arc::new(Solid::from_mesh(m))),
            Err(e) => Outcome::Unsupported { construct: clip(&format!("occt: {e}")), line: None },
        },
        other => exec_error(format!("occt worker: unknown reply kind {other:?}")),
    }
}

fn mesh_of(r: &Reply) -> Result<Mesh, String> {
    if !r.verts.len().is_multiple_of(3)
        || !r.tris.len().is_multiple_of(3)
        || r.faces.len() * 3 != r.tris.len()
    {
        return Err(format!(
            "malformed mesh ({} coordinates, {} indices, {} face ids)",
            r.verts.len(),
            r.tris.len(),
            r.faces.len()
        ));
    }
    let verts: Vec<_> = r.verts.chunks_exact(3).map(|c| v3(c[0], c[1], c[2])).collect();
    let tris: Vec<[u32; 3]> = r.tris.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
    let mut bb = Aabb::EMPTY;
    verts.iter().for_each(|v| bb.add_point(*v));
    let mut m = Mesh::new(verts, tris, r.faces.clone(), 1e-7 * bb.diagonal().max(1e-12))?;
    if let (Some(volume), Some(area), Some(b)) = (r.volume, r.area, r.bbox) {
        m.brep = Some(BrepProps {
            volume,
            area,
            bbox: Aabb { min: v3(b[0], b[1], b[2]), max: v3(b[3], b[4], b[5]) },
        });
    }
    Ok(m)
}
