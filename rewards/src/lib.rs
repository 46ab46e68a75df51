//! cadrl-rewards: native CadQuery execution, geometry, metrics and rewards.
pub mod cq;
pub mod exec;
pub mod executor;
pub mod geom;
pub mod metrics;
pub mod occt;
pub mod render;
pub mod reward;
