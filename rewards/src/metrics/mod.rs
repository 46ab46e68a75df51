//! Geometric metrics between two solids: IoU (three normalisation modes) and
//! Chamfer distance. Each file states its definition.

pub mod chamfer;
pub mod iou;
pub mod nearest;
pub(crate) mod normalize;

pub use chamfer::{CHAMFER_POINTS, chamfer};
pub use iou::{IouMode, iou};
