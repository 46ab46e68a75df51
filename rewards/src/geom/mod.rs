//! Exact geometry of extruded-profile CSG: profiles, prisms, solids, integrals.

pub mod integrate;
pub mod mesh;
pub mod profile;
pub mod sample;
pub mod solid;
pub mod vec;

pub use integrate::{MassProps, Overlap, exact_bbox, is_empty, mass_props, overlap, volume};
pub use mesh::Mesh;
pub use profile::{Loop, Profile, Seg};
pub use solid::{Leaf, Node, Prism, Solid, Workspace};
pub use vec::{Aabb, Frame, P2, V3, p2, v3};
