//! cadrl-rewards: native CadQuery execution, geometry, metrics and rewards.
