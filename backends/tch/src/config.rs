//! Model configuration: `config.json` (serde, both the nested `text_config` layout of
//! transformers >= 4.5x/5.x and the legacy flat layout) resolved into plain structs, and
//! the stop ids of `generation_config.json`.
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

/// Vision tower hyper-parameters.
#[derive(Debug, Clone)]
pub struct VisionConfig {
    /// Number of vision blocks.
    pub depth: usize,
    /// The tower's width.
    pub hidden_size: usize,
    /// Width of the blocks' gated MLPs (informational: layers take their shapes from the
    /// weights).
    pub intermediate_size: usize,
    /// Attention heads per block.
    pub num_heads: usize,
    /// Image channels (3).
    pub in_channels: usize,
    /// Side of a square patch, in pixels (14).
    pub patch_size: usize,
    /// Side of the square of patches the merger folds into one token (2: four patches).
    pub spatial_merge_size: usize,
    /// Frames per patch (2; a still image is repeated).
    pub temporal_patch_size: usize,
    /// Side of an attention window, in pixels (112), in the blocks not listed in
    /// `fullatt_block_indexes`.
    pub window_size: usize,
    /// Width of the merger's output: the decoder's `hidden_size`.
    pub out_hidden_size: usize,
    /// Blocks that attend over each whole image instead of windows.
    pub fullatt_block_indexes: Vec<usize>,
    /// Base of the 2D rotary embedding (10000 unless `rope_parameters` says).
    pub rope_theta: f64,
    /// The MLPs' activation, by transformers name (`silu` by default).
    pub hidden_act: String,
}

/// Qwen2 decoder hyper-parameters.
#[derive(Debug, Clone)]
pub struct TextConfig {
    /// Rows of the embedding and LM head.
    pub vocab_size: usize,
    /// The decoder's width.
    pub hidden_size: usize,
    /// Width of the gated MLPs (informational: layers take their shapes from the weights).
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads per layer.
    pub num_attention_heads: usize,
    /// Key/value heads per layer (grouped-query attention; defaults to the query heads).
    pub num_key_value_heads: usize,
    /// Width of one head (default `hidden_size / num_attention_heads`).
    pub head_dim: usize,
    /// RMSNorm's epsilon (default 1e-6).
    pub rms_norm_eps: f64,
    /// Base of the rotary embedding (default 1e6).
    pub rope_theta: f64,
    /// M-RoPE: how many rotary frequency pairs read the temporal, height and width position, in
    /// that order; sums to `head_dim / 2` (default `[16, 24, 24]`).
    pub mrope_section: Vec<usize>,
    /// The MLPs' activation, by transformers name (`silu` by default).
    pub hidden_act: String,
}

/// The whole resolved configuration of a Qwen2.5-VL checkpoint.
#[derive(Debug, Clone)]
pub struct QwenVlConfig {
    /// The decoder (`text_config`, or the legacy flat top level).
    pub text: TextConfig,
    /// The vision tower (`vision_config`).
    pub vision: VisionConfig,
    /// Whether the LM head is the embedding matrix (no `lm_head.weight`).
    pub tie_word_embeddings: bool,
    /// Id of `<|image_pad|>`, the slots image features fill (default 151655).
    pub image_token_id: i64,
    /// Id of `<|video_pad|>` (default 151656; videos are not supported).
    pub video_token_id: i64,
    /// Id of `<|vision_start|>` (default 151652).
    pub vision_start_token_id: i64,
    /// Id of `<|vision_end|>` (default 151653).
    pub vision_end_token_id: i64,
    /// `eos_token_id` (top level, else `text_config`'s): stop tokens of generation.
    pub eos_token_ids: Vec<i64>,
}

#[derive(Deserialize)]
struct RawVision {
    depth: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_heads: usize,
    #[serde(default = "d3", alias = "in_chans")]
    in_channels: usize,
    #[serde(default = "d14")]
    patch_size: usize,
    #[serde(default = "d2")]
    spatial_merge_size: usize,
    #[serde(default = "d2")]
    temporal_patch_size: usize,
    #[serde(default = "d112")]
    window_size: usize,
    out_hidden_size: usize,
    #[serde(default)]
    fullatt_block_indexes: Vec<usize>,
    #[serde(default)]
    rope_parameters: Option<Value>,
    #[serde(default = "silu")]
    hidden_act: String,
}
fn d2() -> usize {
    2
}
fn d3() -> usize {
    3
}
fn d14() -> usize {
    14
}
fn d112() -> usize {
    112
}
fn silu() -> String {
    "silu".into()
}

fn get<T: serde::de::DeserializeOwned>(objs: &[&Value], key: &str) -> Option<T> {
    objs.iter().find_map(|o| o.get(key).and_then(|v| serde_json::from_value(v.clone()).ok()))
}

fn ids(v: Option<Value>) -> Vec<i64> {
    match v {
        Some(Value::Number(n)) => n.as_i64().into_iter().collect(),
        Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_i64()).collect(),
        _ => vec![],
    }
}

impl QwenVlConfig {
    /// Parse a `config.json` value.
    fn from_json(root: &Value) -> Result<Self> {
        let text_v = root.get("text_config").cloned().unwrap_or(Value::Null);
        // Prefer text_config values, fall back to the legacy flat top level.
        let objs: Vec<&Value> = if text_v.is_object() { vec![&text_v, root] } else { vec![root] };
        let req = |k: &str| -> Result<usize> {
            get::<usize>(&objs, k).with_context(|| format!("config.json: missing text field `{k}`"))
        };
        let hidden_size = req("hidden_size")?;
        let num_attention_heads = req("num_attention_heads")?;
        let rope: Option<Value> = get(&objs, "rope_parameters").or_else(|| get(&objs, "rope_scaling"));
        let rope_theta = rope
            .as_ref()
            .and_then(|r| r.get("rope_theta").and_then(|x| x.as_f64()))
            .or_else(|| get::<f64>(&objs, "rope_theta"))
            .unwrap_or(1_000_000.0);
        let mrope_section: Vec<usize> = rope
            .as_ref()
            .and_then(|r| r.get("mrope_section"))
            .and_then(|x| serde_json::from_value(x.clone()).ok())
            .unwrap_or_else(|| vec![16, 24, 24]);
        let head_dim = get::<usize>(&objs, "head_dim").unwrap_or(hidden_size / num_attention_heads);
        if mrope_section.iter().sum::<usize>() * 2 != head_dim {
            bail!(
                "config.json: mrope_section {mrope_section:?} does not sum to head_dim/2 = {}",
                head_dim / 2
            );
        }
        let text = TextConfig {
            vocab_size: req("vocab_size")?,
            hidden_size,
            intermediate_size: req("intermediate_size")?,
            num_hidden_layers: req("num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads: get(&objs, "num_key_value_heads").unwrap_or(num_attention_heads),
            head_dim,
            rms_norm_eps: get(&objs, "rms_norm_eps").unwrap_or(1e-6),
            rope_theta,
            mrope_section,
            hidden_act: get(&objs, "hidden_act").unwrap_or_else(silu),
        };
        let rv: RawVision = serde_json::from_value(
            root.get("vision_config").cloned().context("config.json: missing `vision_config`")?,
        )
        .context("config.json: bad `vision_config`")?;
        let vision = VisionConfig {
            depth: rv.depth,
            hidden_size: rv.hidden_size,
            intermediate_size: rv.intermediate_size,
            num_heads: rv.num_heads,
            in_channels: rv.in_channels,
            patch_size: rv.patch_size,
            spatial_merge_size: rv.spatial_merge_size,
            temporal_patch_size: rv.temporal_patch_size,
            window_size: rv.window_size,
            out_hidden_size: rv.out_hidden_size,
            fullatt_block_indexes: rv.fullatt_block_indexes,
            rope_theta: rv
                .rope_parameters
                .and_then(|r| r.get("rope_theta").and_then(|x| x.as_f64()))
                .unwrap_or(10000.0),
            hidden_act: rv.hidden_act,
        };
        let top = [root, &text_v];
        let tie = get::<bool>(&[root], "tie_word_embeddings")
            .or_else(|| get::<bool>(&[&text_v], "tie_word_embeddings"))
            .unwrap_or(false);
        let tok = |k: &str, d: i64| get::<i64>(&top, k).unwrap_or(d);
        let mut eos = ids(root.get("eos_token_id").cloned());
        if eos.is_empty() {
            eos = ids(text_v.get("eos_token_id").cloned());
        }
        Ok(Self {
            text,
            vision,
            tie_word_embeddings: tie,
            image_token_id: tok("image_token_id", 151655),
            video_token_id: tok("video_token_id", 151656),
            vision_start_token_id: tok("vision_start_token_id", 151652),
            vision_end_token_id: tok("vision_end_token_id", 151653),
            eos_token_ids: eos,
        })
    }

    /// Read and parse `dir/config.json`.
    pub(crate) fn from_dir(dir: &Path) -> Result<Self> {
        let p = dir.join("config.json");
        let s = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        let v: Value = serde_json::from_str(&s).with_context(|| format!("parsing {}", p.display()))?;
        Self::from_json(&v).with_context(|| format!("in {}", p.display()))
    }
}

/// What is used of `generation_config.json`: its end-of-sequence ids (extra stop tokens
/// for generation; its sampling defaults are not read, the caller's options rule).
#[derive(Debug, Clone, Default)]
pub(crate) struct GenerationDefaults {
    /// `eos_token_id` (one id or a list; empty when absent).
    pub(crate) eos_token_ids: Vec<i64>,
}

impl GenerationDefaults {
    /// Read `dir/generation_config.json` if present.
    pub(crate) fn from_dir(dir: &Path) -> Result<Self> {
        let p = dir.join("generation_config.json");
        if !p.exists() {
            return Ok(Self::default());
        }
        let s = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        let v: Value = serde_json::from_str(&s).with_context(|| format!("parsing {}", p.display()))?;
        Ok(Self { eos_token_ids: ids(v.get("eos_token_id").cloned()) })
    }
}
