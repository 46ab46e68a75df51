//! The plain types a policy is asked with and answers in.
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::str::FromStr;

/// Compute device: `cpu`, `cuda` (device 0) or `cuda:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    /// The CPU.
    Cpu,
    /// A CUDA device by index.
    Cuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            _ => match s.strip_prefix("cuda:") {
                Some(i) => Ok(Self::Cuda(i.parse().with_context(|| format!("bad device `{s}`"))?)),
                None => bail!("unknown device `{s}` (cpu, cuda, cuda:N)"),
            },
        }
    }
}

/// `cpu` or `cuda:N`, which [`FromStr`] reads back.
impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl serde::Serialize for DeviceSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Weight dtype of the frozen base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// 32-bit float.
    F32,
    /// bfloat16.
    BF16,
    /// IEEE half precision.
    F16,
}

impl DType {
    /// Every dtype, in the order messages list them.
    pub const ALL: [DType; 3] = [DType::F32, DType::BF16, DType::F16];

    /// The name recipes and the command line use (also the serde name).
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::BF16 => "bf16",
            Self::F16 => "f16",
        }
    }
}

/// A [`DType::name`] or torch's long name (`float32`, `bfloat16`, `float16`).
impl FromStr for DType {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let long = |d: DType| match d {
            Self::F32 => "float32",
            Self::BF16 => "bfloat16",
            Self::F16 => "float16",
        };
        match Self::ALL.into_iter().find(|&d| d.name() == s || long(d) == s) {
            Some(d) => Ok(d),
            None => bail!("unknown dtype `{s}` (f32, bf16, f16)"),
        }
    }
}

/// What to load.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    /// Local checkpoint directory or hub id (`Org/Name[@rev]`) in the HF cache.
    pub path_or_id: String,
    /// Where to run it.
    pub device: DeviceSpec,
    /// Weight dtype of the frozen base.
    pub dtype: DType,
}

/// An image given by path or as raw RGB8 pixels.
#[derive(Debug, Clone)]
pub enum ImageInput {
    /// A PNG or JPEG file.
    Path(PathBuf),
    /// Row-major RGB8 pixels.
    Rgb8 {
        /// Pixels per row.
        width: usize,
        /// Rows.
        height: usize,
        /// `3 * width * height` bytes.
        data: Vec<u8>,
    },
}

/// One generated program.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Candidate {
    /// The decoded text.
    pub text: String,
    /// Generated ids, including the end-of-turn token when generation stopped on it.
    pub token_ids: Vec<u32>,
    /// Log-probs of `token_ids` under the model (temperature 1, no filtering).
    pub logprobs: Vec<f32>,
    /// Whether generation ended on the end-of-turn token (false: cut at
    /// `max_new_tokens`, a truncated completion).
    #[serde(default)]
    pub finished: bool,
}

/// A (image, prompt, completion) training/scoring example.
#[derive(Debug, Clone)]
pub struct Example {
    /// The picture of the part.
    pub image: ImageInput,
    /// The instruction (`None`: [`crate::DEFAULT_PROMPT`]).
    pub prompt: Option<String>,
    /// The program to score or learn.
    pub completion: String,
}

/// A DPO preference pair on one image.
#[derive(Debug, Clone)]
pub struct PreferencePair {
    /// The picture of the part.
    pub image: ImageInput,
    /// The instruction (`None`: [`crate::DEFAULT_PROMPT`]).
    pub prompt: Option<String>,
    /// The preferred program.
    pub chosen: String,
    /// The other program.
    pub rejected: String,
}

/// Statistics of one optimiser step.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct StepStats {
    /// The loss of the batch.
    pub loss: f64,
    /// The global gradient norm before clipping.
    pub grad_norm: f64,
    /// The learning rate the step used.
    pub lr: f64,
    /// Completion tokens in the batch.
    pub tokens: usize,
}

/// Generation settings, the workspace's one sampling type (`temperature == 0` is greedy;
/// temperature, then top-k, then top-p, in transformers' order).
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// The instruction given with each image (`None`: [`crate::DEFAULT_PROMPT`]).
    pub prompt: Option<String>,
    /// Candidates per image.
    pub n: usize,
    /// Softmax temperature.
    pub temperature: f64,
    /// Nucleus sampling mass (1 disables it).
    pub top_p: f64,
    /// 0 disables top-k.
    pub top_k: usize,
    /// Most tokens generated per candidate.
    pub max_new_tokens: usize,
    /// Seed of the candidates' RNGs (the same seed and options give the same candidates).
    pub seed: u64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self { prompt: None, n: 1, temperature: 1.0, top_p: 1.0, top_k: 0, max_new_tokens: 512, seed: 0 }
    }
}
