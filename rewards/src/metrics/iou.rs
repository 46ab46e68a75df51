//! Intersection over union of two solids: `vol(A ∩ B) / vol(A ∪ B)`, in [0, 1].
//!
//! Volumes come from exact ray intervals through the CSG trees (see
//! `geom::integrate`), not from voxels or meshes. Three modes say how the shapes are
//! placed before comparing:
//!
//! - `in-place` (default): as the programs build them. GenCAD-Code programs share
//!   DeepCAD's normalised frame, so this is the natural comparison there.
//! - `bbox`: each shape is centred on its bounding box and scaled so its longest side
//!   spans [-1, 1], as cadrille and CAD-Recode normalise before comparing.
//! - `inertia`: CAD-Coder's alignment: each shape is moved to its centre of mass,
//!   rotated into the eigenvectors of its inertia tensor (ascending eigenvalues) and
//!   scaled by `s = sqrt(sum|lambda| / V)`; the IoU is the best over the identity and
//!   the three 180-degree turns about the principal axes (eigenvectors are taken
//!   right-handed, so all four candidates are proper rotations).
//!
//! Edge cases: a zero-volume shape gives 0; identical programs give 1. A shape with
//! isotropic inertia (a cube, say) has no unique principal axes, so `inertia` aligns
//! it arbitrarily about them, as CAD-Coder's procedure does.
//! Example: a unit cube and the same cube shifted by half its side along x have
//! in-place IoU 1/3, and bbox/inertia IoU 1.

use crate::geom::{Solid, mass_props, overlap};

use super::normalize::{IDENTITY_ROWS, align_rotation, bbox_normalized, principal};

/// How shapes are placed before the IoU is taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IouMode {
    /// As the programs build them (`in-place`; the default).
    #[default]
    InPlace,
    /// Each centred on its bounding box, longest side scaled to span [-1, 1] (`bbox`).
    Bbox,
    /// CAD-Coder's principal-axes alignment, best of four flips (`inertia`).
    Inertia,
}

impl IouMode {
    /// Every mode.
    pub const ALL: [IouMode; 3] = [IouMode::InPlace, IouMode::Bbox, IouMode::Inertia];

    /// The name recipes and the command line use (also the serde name).
    pub fn name(self) -> &'static str {
        match self {
            IouMode::InPlace => "in-place",
            IouMode::Bbox => "bbox",
            IouMode::Inertia => "inertia",
        }
    }
}

impl std::str::FromStr for IouMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "in-place" | "inplace" | "in_place" => Ok(IouMode::InPlace),
            "bbox" => Ok(IouMode::Bbox),
            "inertia" => Ok(IouMode::Inertia),
            other => Err(format!("unknown IoU mode `{other}` (expected in-place, bbox or inertia)")),
        }
    }
}

/// IoU of `a` and `b` under `mode`.
pub fn iou(a: &Solid, b: &Solid, mode: IouMode) -> f64 {
    match mode {
        IouMode::InPlace => overlap(a, b).iou(),
        IouMode::Bbox => {
            let (pa, pb) = (mass_props(a), mass_props(b));
            match (bbox_normalized(a, &pa, 2.0), bbox_normalized(b, &pb, 2.0)) {
                (Some(na), Some(nb)) => overlap(&na, &nb).iou(),
                _ => 0.0,
            }
        }
        IouMode::Inertia => {
            let (pa, pb) = (mass_props(a), mass_props(b));
            let (Some(sa), Some(sb)) = (principal(&pa), principal(&pb)) else { return 0.0 };
            let target = b.transformed(1.0 / sb.s, IDENTITY_ROWS, sb.c);
            let flips = [[1.0, 1.0, 1.0], [1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]];
            flips
                .iter()
                .map(|d| {
                    let r = align_rotation(&sa, &sb, *d);
                    overlap(&a.transformed(1.0 / sa.s, r, sa.c), &target).iou()
                })
                .fold(0.0, f64::max)
        }
    }
}
