//! The shape of a randomly initialised Qwen2.5-VL for models trained from scratch (the
//! `init` stage's `[stage.model]`), checked here so that `recipe check` needs no backend.
use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// Shape of a randomly initialised Qwen2.5-VL (`[stage.model]` of an `init` recipe).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InitConfig {
    /// Decoder width.
    pub hidden_size: usize,
    /// Decoder MLP width.
    pub intermediate_size: usize,
    /// Decoder blocks.
    pub num_hidden_layers: usize,
    /// Decoder query heads.
    pub num_attention_heads: usize,
    /// Decoder key/value heads (grouped-query attention when fewer than the query heads).
    pub num_key_value_heads: usize,
    /// Vision blocks.
    pub vision_depth: usize,
    /// Vision width.
    pub vision_hidden_size: usize,
    /// Vision attention heads.
    pub vision_heads: usize,
    /// Vision MLP width.
    pub vision_intermediate_size: usize,
    /// Window of the windowed vision blocks, in pixels (a multiple of 28).
    pub vision_window_size: usize,
    /// Vision blocks with full attention (the others use windows).
    pub vision_fullatt_block_indexes: Vec<usize>,
    /// Merger output width; must equal `hidden_size` (kept for recipes that spell it out).
    pub out_hidden_size: Option<usize>,
    /// Longest sequence the rotary tables cover.
    pub max_position_embeddings: usize,
    /// Rotary base.
    pub rope_theta: f64,
    /// M-RoPE (temporal, height, width) sections; sum = head_dim / 2.
    pub mrope_section: Vec<usize>,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Standard deviation of the normal initialisation of linear and embedding weights.
    pub initializer_range: f64,
    /// Fewest pixels an image is resized to.
    pub image_min_pixels: usize,
    /// 224*224 turns a 448x448 GenCAD image into 16x16 patches = 64 merged visual tokens.
    pub image_max_pixels: usize,
    /// Share the input embedding with the output head.
    pub tie_word_embeddings: bool,
}

impl Default for InitConfig {
    fn default() -> Self {
        Self {
            hidden_size: 64,
            intermediate_size: 172,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            vision_depth: 2,
            vision_hidden_size: 64,
            vision_heads: 4,
            vision_intermediate_size: 128,
            vision_window_size: 112,
            vision_fullatt_block_indexes: vec![1],
            out_hidden_size: None,
            max_position_embeddings: 8192,
            rope_theta: 1_000_000.0,
            mrope_section: vec![2, 3, 3],
            rms_norm_eps: 1e-6,
            initializer_range: 0.02,
            image_min_pixels: 56 * 56,
            image_max_pixels: 224 * 224,
            tie_word_embeddings: true,
        }
    }
}

impl InitConfig {
    /// Check the shapes fit together (heads divide widths, M-RoPE sections, pixels).
    pub fn validate(&self) -> Result<()> {
        let c = self;
        let pos = [
            ("hidden_size", c.hidden_size),
            ("intermediate_size", c.intermediate_size),
            ("num_hidden_layers", c.num_hidden_layers),
            ("num_attention_heads", c.num_attention_heads),
            ("num_key_value_heads", c.num_key_value_heads),
            ("vision_depth", c.vision_depth),
            ("vision_hidden_size", c.vision_hidden_size),
            ("vision_heads", c.vision_heads),
            ("vision_intermediate_size", c.vision_intermediate_size),
            ("max_position_embeddings", c.max_position_embeddings),
        ];
        for (k, v) in pos {
            if v == 0 {
                bail!("init model config: `{k}` must be positive");
            }
        }
        if !c.hidden_size.is_multiple_of(c.num_attention_heads) {
            bail!(
                "init model config: hidden_size {} is not divisible by num_attention_heads {}",
                c.hidden_size,
                c.num_attention_heads
            );
        }
        if !c.num_attention_heads.is_multiple_of(c.num_key_value_heads) {
            bail!(
                "init model config: num_attention_heads {} is not divisible by num_key_value_heads {}",
                c.num_attention_heads,
                c.num_key_value_heads
            );
        }
        let head_dim = c.hidden_size / c.num_attention_heads;
        if c.mrope_section.len() != 3 || c.mrope_section.iter().sum::<usize>() * 2 != head_dim {
            bail!(
                "init model config: mrope_section {:?} must have 3 entries summing to head_dim/2 = {}",
                c.mrope_section,
                head_dim / 2
            );
        }
        if !c.vision_hidden_size.is_multiple_of(c.vision_heads)
            || !(c.vision_hidden_size / c.vision_heads).is_multiple_of(4)
        {
            bail!(
                "init model config: vision head dim {}/{} must be an integer multiple of 4",
                c.vision_hidden_size,
                c.vision_heads
            );
        }
        if let Some(o) = c.out_hidden_size
            && o != c.hidden_size
        {
            bail!("init model config: out_hidden_size {o} must equal hidden_size {}", c.hidden_size);
        }
        if c.vision_window_size == 0 || !c.vision_window_size.is_multiple_of(28) {
            bail!(
                "init model config: vision_window_size {} must be a positive multiple of 28",
                c.vision_window_size
            );
        }
        if let Some(i) = c.vision_fullatt_block_indexes.iter().find(|&&i| i >= c.vision_depth) {
            bail!(
                "init model config: vision_fullatt_block_indexes has {i} >= vision_depth {}",
                c.vision_depth
            );
        }
        if c.image_min_pixels < 28 * 28 || c.image_min_pixels > c.image_max_pixels {
            bail!(
                "init model config: need 784 <= image_min_pixels ({}) <= image_max_pixels ({})",
                c.image_min_pixels,
                c.image_max_pixels
            );
        }
        if !(c.initializer_range > 0.0 && c.rope_theta > 0.0 && c.rms_norm_eps > 0.0) {
            bail!("init model config: initializer_range, rope_theta and rms_norm_eps must be positive");
        }
        Ok(())
    }
}

/// What a backend's tokenizer training ([`crate::Backend::init_checkpoint`]) produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenizerReport {
    /// Total vocabulary: learned BPE tokens plus the added tokens.
    pub vocab_size: usize,
    /// Learned BPE vocabulary (256 byte symbols plus merges).
    pub learned_vocab_size: usize,
    /// Programs it was trained on.
    pub programs: usize,
    /// Mean tokens per program under the trained tokenizer.
    pub mean_tokens_per_program: f64,
}
