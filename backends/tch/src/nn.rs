//! Building blocks shared by the vision tower and the decoder: forward context, linear
//! layers carrying an optional LoRA adapter, the gated MLP, RMSNorm, activations and the
//! rotary `rotate_half`.
use tch::{Kind, Tensor};

/// Per-forward switches.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    /// Apply LoRA adapters (off gives the reference/base model).
    pub lora_on: bool,
    /// Training mode (LoRA dropout active).
    pub train: bool,
}

impl Ctx {
    /// Inference: adapters on, no dropout.
    pub const EVAL: Ctx = Ctx { lora_on: true, train: false };
}

/// A LoRA adapter on one linear layer: `y += scale * B(A(dropout(x)))`, kept in f32.
#[derive(Debug)]
pub struct Lora {
    /// `A`: `[r, in]` f32.
    pub(crate) a: Tensor,
    /// `B`: `[out, r]` f32 (zero when fresh, so a fresh adapter changes nothing).
    pub(crate) b: Tensor,
    /// `alpha / r`, or `alpha / sqrt(r)` with rsLoRA.
    pub(crate) scale: f64,
    /// Dropout probability on the adapter's input, in training only.
    pub(crate) dropout: f64,
}

/// `y = x W^T + b` with an optional LoRA adapter. `name` is the canonical module path.
#[derive(Debug)]
pub struct Linear {
    /// Canonical (legacy-layout) module path, e.g. `model.layers.0.self_attn.q_proj`.
    pub(crate) name: String,
    /// `W`: `[out, in]` in the model's dtype.
    pub(crate) weight: Tensor,
    /// `[out]`, where the checkpoint has one.
    pub(crate) bias: Option<Tensor>,
    /// The adapter, while one is attached.
    pub lora: Option<Lora>,
}

impl Linear {
    /// A layer without adapter.
    pub(crate) fn new(name: &str, weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { name: name.to_string(), weight, bias, lora: None }
    }

    /// `in`: the weight's columns.
    pub(crate) fn in_features(&self) -> i64 {
        self.weight.size()[1]
    }

    /// `out`: the weight's rows.
    pub(crate) fn out_features(&self) -> i64 {
        self.weight.size()[0]
    }

    /// `x W^T + b`, plus the adapter's term (computed in f32, cast back) when `ctx.lora_on`,
    /// with its dropout when `ctx.train`.
    pub(crate) fn forward(&self, x: &Tensor, ctx: &Ctx) -> Tensor {
        let y = x.linear(&self.weight, self.bias.as_ref());
        match (&self.lora, ctx.lora_on) {
            (Some(l), true) => {
                let xf = x.to_kind(Kind::Float);
                let xf = if ctx.train && l.dropout > 0.0 { xf.dropout(l.dropout, true) } else { xf };
                let d = xf.linear::<Tensor>(&l.a, None).linear::<Tensor>(&l.b, None) * l.scale;
                let k = y.kind();
                y + d.to_kind(k)
            }
            _ => y,
        }
    }

    /// Fold the adapter into the base weight and drop it.
    pub(crate) fn merge_lora(&mut self) {
        if let Some(l) = self.lora.take() {
            tch::no_grad(|| {
                let delta = l.b.matmul(&l.a) * l.scale;
                let merged = self.weight.to_kind(Kind::Float) + delta.to_device(self.weight.device());
                let mut w = self.weight.shallow_clone();
                w.copy_(&merged.to_kind(self.weight.kind()));
            });
        }
    }
}

/// RMSNorm computed in f32 like transformers' Qwen2RMSNorm.
pub(crate) fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Tensor {
    let kind = x.kind();
    let xf = x.to_kind(Kind::Float);
    let var = xf.pow_tensor_scalar(2).mean_dim(-1, true, Kind::Float);
    let y = (xf * (var + eps).rsqrt()).to_kind(kind);
    weight * y
}

/// Activation by transformers name.
fn act(x: &Tensor, name: &str) -> Tensor {
    match name {
        "gelu" => x.gelu("none"),
        "gelu_pytorch_tanh" | "gelu_new" => x.gelu("tanh"),
        "relu" => x.relu(),
        "quick_gelu" => x * (x * 1.702).sigmoid(),
        _ => x.silu(),
    }
}

/// Rotate half of the last dimension: `cat(-x2, x1)`.
pub(crate) fn rotate_half(x: &Tensor) -> Tensor {
    let d = x.size()[x.dim() - 1];
    let x1 = x.narrow(-1, 0, d / 2);
    let x2 = x.narrow(-1, d / 2, d - d / 2);
    Tensor::cat(&[x2.neg(), x1], -1)
}

/// Gated MLP `down(act(gate(x)) * up(x))`.
#[derive(Debug)]
pub(crate) struct GatedMlp {
    /// `gate_proj`, `H -> I`.
    pub(crate) gate: Linear,
    /// `up_proj`, `H -> I`.
    pub(crate) up: Linear,
    /// `down_proj`, `I -> H`.
    pub(crate) down: Linear,
    /// The activation on the gate, by transformers name ([`act`]).
    pub(crate) act: String,
}

impl GatedMlp {
    /// `down(act(gate(x)) * up(x))`.
    pub(crate) fn forward(&self, x: &Tensor, ctx: &Ctx) -> Tensor {
        let g = act(&self.gate.forward(x, ctx), &self.act);
        self.down.forward(&(g * self.up.forward(x, ctx)), ctx)
    }

    /// gate, up, down.
    pub(crate) fn linears_mut(&mut self) -> [&mut Linear; 3] {
        [&mut self.gate, &mut self.up, &mut self.down]
    }

    /// gate, up, down.
    pub(crate) fn linears(&self) -> [&Linear; 3] {
        [&self.gate, &self.up, &self.down]
    }
}
