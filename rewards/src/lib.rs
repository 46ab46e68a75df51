//! cadrl-rewards: executing CadQuery programs (natively, or in real CadQuery in a
//! sandboxed worker pool), exact CSG geometry, geometric metrics, rewards and the
//! GenCAD-style renderer.
#![warn(missing_docs)]
pub mod cq;
pub mod exec;
pub mod executor;
pub mod geom;
pub mod metrics;
pub mod occt;
pub mod render;
pub mod reward;
