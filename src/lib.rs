//! cadrl: the pipeline, recipes, data and CLI.
pub use cadrl_rewards as rewards;
