//! cadrl-rewards: native CadQuery execution, geometry, metrics and rewards.
pub mod geom;
pub mod cq;
pub mod exec;
pub mod executor;
pub mod metrics;
pub mod occt;
pub mod reward;
pub mod render;
