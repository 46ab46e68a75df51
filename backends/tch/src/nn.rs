//! Building blocks shared by the vision tower and the decoder: forward context, linear
//! layers carrying an optional LoRA adapter, RMSNorm and activations.
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
    pub const EVAL: Ctx = Ctx { lora_on: true, train: false };
}

/// A LoRA adapter on one linear layer: `y += scale * B(A(dropout(x)))`, kept in f32.
#[derive(Debug)]
pub struct Lora {
    /// `[r, in]`
    pub a: Tensor,
    /// `[out, r]`
    pub b: Tensor,
    pub scale: f64,
    pub dropout: f64,
}

/// `y = x W^T + b` with an optional LoRA adapter. `name` is the canonical module path.
#[derive(Debug)]
pub struct Linear {
    pub name: String,
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub lora: Option<Lora>,
}

impl Linear {
    pub fn new(name: &str, weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { name: name.to_string(), weight, bias, lora: None }
    }

    pub fn in_features(&self) -> i64 {
        self.weight.size()[1]
    }

    pub fn out_features(&self) -> i64 {
        self.weight.size()[0]
    }

    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Tensor {
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
    pub fn merge_lora(&mut self) {
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
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Tensor {
    let kind = x.kind();
    let xf = x.to_kind(Kind::Float);
    let var = xf.pow_tensor_scalar(2).mean_dim(-1, true, Kind::Float);
    let y = (xf * (var + eps).rsqrt()).to_kind(kind);
    weight * y
}

/// Activation by transformers name.
pub fn act(x: &Tensor, name: &str) -> Tensor {
    match name {
        "gelu" => x.gelu("none"),
        "gelu_pytorch_tanh" | "gelu_new" => x.gelu("tanh"),
        "relu" => x.relu(),
        "quick_gelu" => x * (x * 1.702).sigmoid(),
        _ => x.silu(),
    }
}

/// Rotate half of the last dimension: `cat(-x2, x1)`.
pub fn rotate_half(x: &Tensor) -> Tensor {
    let d = x.size()[x.dim() - 1];
    let x1 = x.narrow(-1, 0, d / 2);
    let x2 = x.narrow(-1, d / 2, d - d / 2);
    Tensor::cat(&[x2.neg(), x1], -1)
}

/// Gated MLP `down(act(gate(x)) * up(x))`.
#[derive(Debug)]
pub struct GatedMlp {
    pub gate: Linear,
    pub up: Linear,
    pub down: Linear,
    pub act: String,
}

impl GatedMlp {
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Tensor {
        let g = act(&self.gate.forward(x, ctx), &self.act);
        self.down.forward(&(g * self.up.forward(x, ctx)), ctx)
    }

    pub fn linears_mut(&mut self) -> [&mut Linear; 3] {
        [&mut self.gate, &mut self.up, &mut self.down]
    }

    pub fn linears(&self) -> [&Linear; 3] {
        [&self.gate, &self.up, &self.down]
    }
}
