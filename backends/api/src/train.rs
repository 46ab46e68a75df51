//! Training settings: the optimiser and step ([`TrainConfig`]) and LoRA ([`LoraConfig`]).
use serde::{Deserialize, Serialize};

/// Optimiser and step settings.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Learning rate (the pipeline's schedule sets it per step).
    pub lr: f64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// AdamW's first-moment decay.
    pub beta1: f64,
    /// AdamW's second-moment decay.
    pub beta2: f64,
    /// AdamW's epsilon.
    pub eps: f64,
    /// Clip the global gradient norm to this (<= 0: no clipping).
    pub max_grad_norm: f64,
    /// Recompute decoder blocks in the backward pass instead of keeping activations.
    pub grad_checkpointing: bool,
    /// Examples (SFT) or pairs (DPO) per forward/backward; a larger batch is split and its
    /// gradients accumulated before one update (0 = the whole batch at once).
    pub micro_batch: usize,
    /// Learning-rate multiplier of the vision tower and merger (full fine-tuning, or LoRA
    /// on the vision tower); 0 freezes them. Training a small VLM from scratch, a full-rate
    /// vision tower tends to collapse to a constant (image-independent) output.
    pub vision_lr_scale: f64,
    /// Learning-rate multiplier of the patch merger alone (full fine-tuning), overriding
    /// `vision_lr_scale` for it: e.g. a frozen random tower (`vision_lr_scale = 0`) read
    /// through a trained merger. `None`: the merger follows `vision_lr_scale`.
    pub merger_lr_scale: Option<f64>,
    /// Outputs of the vision stage's probe ([`crate::Policy::vision_step`]); > 0 trains the tower,
    /// merger and probe on per-image targets instead of the decoder on text.
    pub probe_outputs: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            lr: 1e-4,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            max_grad_norm: 1.0,
            grad_checkpointing: false,
            micro_batch: 0,
            vision_lr_scale: 1.0,
            merger_lr_scale: None,
            probe_outputs: 0,
        }
    }
}

/// Decoder projection names targeted by default.
pub const DEFAULT_TARGETS: [&str; 7] =
    ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/// LoRA hyper-parameters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoraConfig {
    /// Rank.
    pub r: usize,
    /// Scale numerator (`alpha / r`, or `alpha / sqrt(r)` with rsLoRA).
    pub alpha: f64,
    /// Dropout on the adapter input while training.
    pub dropout: f64,
    /// Module name suffixes (PEFT semantics: `name == t` or `name` ends with `.t`).
    pub target_modules: Vec<String>,
    /// Also adapt the vision tower (`qkv`, `attn.proj` and its MLP when targeted).
    pub vision: bool,
    /// rsLoRA scaling.
    pub use_rslora: bool,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            r: 16,
            alpha: 32.0,
            dropout: 0.05,
            target_modules: DEFAULT_TARGETS.iter().map(|s| s.to_string()).collect(),
            vision: false,
            use_rslora: false,
        }
    }
}

impl LoraConfig {
    /// The factor the adapter's output is multiplied by.
    pub fn scale(&self) -> f64 {
        if self.use_rslora { self.alpha / (self.r as f64).sqrt() } else { self.alpha / self.r as f64 }
    }

    /// Effective target names: with `vision`, the vision attention (`qkv`, `attn.proj`) is added.
    pub fn effective_targets(&self) -> Vec<String> {
        let mut t = self.target_modules.clone();
        if self.vision {
            for x in ["qkv", "attn.proj"] {
                if !t.iter().any(|y| y == x) {
                    t.push(x.to_string());
                }
            }
        }
        t
    }
}
