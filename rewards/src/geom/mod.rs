//! Exact geometry of extruded-profile CSG (with mesh leaves for shapes from OCCT):
//! solids, vectors and boxes, volume integrals, surface sampling.

pub mod integrate;
pub mod mesh;
pub(crate) mod profile;
pub mod sample;
pub mod solid;
pub mod vec;

pub(crate) use integrate::is_empty;
pub use integrate::{MassProps, Overlap, exact_bbox, mass_props, overlap};
pub use mesh::Mesh;
pub(crate) use profile::{Loop, Profile, Seg};
pub(crate) use solid::{Node, Prism};
pub use solid::{Solid, Workspace};
pub(crate) use vec::Frame;
pub use vec::{Aabb, P2, V3, p2, v3};
