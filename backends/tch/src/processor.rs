//! Image processor equal to transformers 5's Qwen2-VL one: `smart_resize` with the
//! min/max pixels read as transformers reads them, bicubic resampling bit-exact with the
//! chosen backend ([`ImageBackend`]: torchvision, transformers' default, or Pillow), rescale
//! and normalise in that backend's arithmetic, temporal duplication, patch order, `grid_thw`.
use crate::resize::{pil_bicubic_rgb8, torchvision_bicubic_rgb8};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::Path;

/// Which of transformers 5's two Qwen2-VL image processors to match. They resize and
/// normalise differently (pixel values up to ~0.3 apart on resized images); images whose
/// size is already a valid grid (no resize) give the same values, to float rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageBackend {
    /// `Qwen2VLImageProcessor` (torchvision): what `AutoProcessor` / `AutoImageProcessor`
    /// load by default whenever torchvision is installed (as under vLLM), whatever the
    /// checkpoint's `image_processor_type` says.
    #[default]
    Torchvision,
    /// `Qwen2VLImageProcessorPil` (Pillow): `AutoProcessor.from_pretrained(.., backend="pil")`,
    /// and transformers 4.x's slow processor apart from Pillow's pass order.
    Pil,
}

impl ImageBackend {
    /// The name transformers uses for it (`backend=` argument), also the value of the
    /// optional `image_backend` key of `preprocessor_config.json` that selects it here.
    pub fn name(self) -> &'static str {
        match self {
            Self::Torchvision => "torchvision",
            Self::Pil => "pil",
        }
    }
}

/// Resolved `preprocessor_config.json`.
#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    /// Fewest pixels of a resized image (`size.shortest_edge`, or `min_pixels`).
    pub min_pixels: usize,
    /// Most pixels of a resized image (`size.longest_edge`, or `max_pixels`).
    pub max_pixels: usize,
    /// Patch side in pixels.
    patch_size: usize,
    /// Frames per patch (the image is repeated).
    temporal_patch_size: usize,
    /// Side of the square of patches merged into one token.
    pub(crate) merge_size: usize,
    /// Per-channel (RGB) mean subtracted after rescaling.
    image_mean: [f64; 3],
    /// Per-channel (RGB) standard deviation divided by.
    image_std: [f64; 3],
    /// Factor from 8-bit values to [0, 1] (1/255).
    rescale_factor: f64,
    /// Resize to the `smart_resize` grid (off: the size must already be a multiple of
    /// `patch_size * merge_size`).
    do_resize: bool,
    /// Multiply by `rescale_factor`.
    do_rescale: bool,
    /// Normalise with `image_mean` / `image_std`.
    do_normalize: bool,
    /// Which transformers processor's resampling and arithmetic to match.
    pub backend: ImageBackend,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        Self {
            min_pixels: 56 * 56,
            max_pixels: 28 * 28 * 1280,
            patch_size: 14,
            temporal_patch_size: 2,
            merge_size: 2,
            image_mean: [0.48145466, 0.4578275, 0.40821073],
            image_std: [0.26862954, 0.26130258, 0.27577711],
            rescale_factor: 1.0 / 255.0,
            do_resize: true,
            do_rescale: true,
            do_normalize: true,
            backend: ImageBackend::Torchvision,
        }
    }
}

impl ProcessorConfig {
    /// Read `dir/preprocessor_config.json` (defaults of Qwen2.5-VL when absent).
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let p = dir.join("preprocessor_config.json");
        if !p.exists() {
            return Ok(Self::default());
        }
        let s = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        let v: Value = serde_json::from_str(&s).with_context(|| format!("parsing {}", p.display()))?;
        Self::from_json(&v).with_context(|| format!("in {}", p.display()))
    }

    /// Resolve a parsed `preprocessor_config.json`. The pixel bounds follow transformers 5:
    /// `size` (default `{shortest_edge: 3136, longest_edge: 1003520}`) with top-level
    /// `min_pixels` / `max_pixels` (where not null) overriding `shortest_edge` /
    /// `longest_edge`; both bounds must then be set (transformers fails on the first image
    /// otherwise; `size.min_pixels` / `size.max_pixels` are not read by it, nor here).
    pub fn from_json(v: &Value) -> Result<Self> {
        let mut c = Self::default();
        let uint = |x: Option<&Value>, k: &str| -> Result<Option<usize>> {
            match x {
                None | Some(Value::Null) => Ok(None),
                Some(x) => match x.as_u64() {
                    Some(n) => Ok(Some(n as usize)),
                    None => bail!("`{k}` must be a non-negative integer, got {x}"),
                },
            }
        };
        let (mut shortest, mut longest) = match v.get("size") {
            None | Some(Value::Null) => (Some(c.min_pixels), Some(c.max_pixels)),
            Some(size) if size.is_object() => (
                uint(size.get("shortest_edge"), "size.shortest_edge")?,
                uint(size.get("longest_edge"), "size.longest_edge")?,
            ),
            Some(size) => bail!("`size` must be an object, got {size}"),
        };
        if let Some(x) = uint(v.get("min_pixels"), "min_pixels")? {
            shortest = Some(x);
        }
        if let Some(x) = uint(v.get("max_pixels"), "max_pixels")? {
            longest = Some(x);
        }
        match (shortest, longest) {
            (Some(a), Some(b)) if a > 0 && b > 0 => (c.min_pixels, c.max_pixels) = (a, b),
            _ => bail!(
                "the pixel bounds are incomplete: `size` gives shortest_edge {shortest:?} and \
                 longest_edge {longest:?} after the top-level min_pixels / max_pixels; transformers \
                 5 needs both (set min_pixels and max_pixels)"
            ),
        }
        for (k, dst) in [
            ("patch_size", &mut c.patch_size),
            ("temporal_patch_size", &mut c.temporal_patch_size),
            ("merge_size", &mut c.merge_size),
        ] {
            if let Some(x) = uint(v.get(k), k)? {
                *dst = x;
            }
        }
        let arr3 = |k: &str| -> Option<[f64; 3]> {
            let a = v.get(k)?.as_array()?;
            if a.len() != 3 {
                return None;
            }
            Some([a[0].as_f64()?, a[1].as_f64()?, a[2].as_f64()?])
        };
        if let Some(m) = arr3("image_mean") {
            c.image_mean = m;
        }
        if let Some(m) = arr3("image_std") {
            c.image_std = m;
        }
        if let Some(x) = v.get("rescale_factor").and_then(|x| x.as_f64()) {
            c.rescale_factor = x;
        }
        let b = |k: &str, d: bool| v.get(k).and_then(|x| x.as_bool()).unwrap_or(d);
        c.do_resize = b("do_resize", true);
        c.do_rescale = b("do_rescale", true);
        c.do_normalize = b("do_normalize", true);
        if let Some(r) = v.get("resample").and_then(|x| x.as_u64())
            && r != 3
        {
            bail!("only bicubic resampling (3) is supported, got {r}");
        }
        c.backend = match v.get("image_backend") {
            None | Some(Value::Null) => ImageBackend::Torchvision,
            Some(Value::String(s)) if s == "torchvision" => ImageBackend::Torchvision,
            Some(Value::String(s)) if s == "pil" => ImageBackend::Pil,
            Some(x) => bail!("`image_backend` must be \"torchvision\" or \"pil\", got {x}"),
        };
        Ok(c)
    }
}

/// Python's `round()` (half to even) of a non-negative float.
fn py_round(x: f64) -> f64 {
    let r = x.round();
    if x.fract() == 0.5 && r % 2.0 != 0.0 { r - 1.0 } else { r }
}

/// transformers' `smart_resize`: returns (height, width), both multiples of `factor`.
fn smart_resize(
    height: usize,
    width: usize,
    factor: usize,
    min_pixels: usize,
    max_pixels: usize,
) -> Result<(usize, usize)> {
    let (h, w, f) = (height as f64, width as f64, factor as f64);
    if h.max(w) / h.min(w) > 200.0 {
        bail!("absolute aspect ratio must be smaller than 200, got {}", h.max(w) / h.min(w));
    }
    let mut hb = py_round(h / f) * f;
    let mut wb = py_round(w / f) * f;
    if hb * wb > max_pixels as f64 {
        let beta = ((h * w) / max_pixels as f64).sqrt();
        hb = f.max((h / beta / f).floor() * f);
        wb = f.max((w / beta / f).floor() * f);
    } else if hb * wb < min_pixels as f64 {
        let beta = (min_pixels as f64 / (h * w)).sqrt();
        hb = (h * beta / f).ceil() * f;
        wb = (w * beta / f).ceil() * f;
    }
    Ok((hb as usize, wb as usize))
}

/// Channel-first float planes of an RGB8 image in the backend's arithmetic.
/// Pillow path (NumPy): `f32(x as f64 * rescale)`, then `(v - mean) / std` in f32.
/// torchvision path: rescale fused into the normalisation, `(f32(x) - mean') / std'` with
/// `mean' = f32(mean) * f32(1 / rescale)` (and `std'` alike) in f32; rescale alone is
/// `f32(x) * f32(rescale)`.
fn normalise(img: &[u8], c: &ProcessorConfig) -> Vec<f32> {
    let n = img.len() / 3;
    let mut planes = vec![0f32; 3 * n];
    let inv = (1.0 / c.rescale_factor) as f32;
    for ch in 0..3 {
        let (m, s) = (c.image_mean[ch] as f32, c.image_std[ch] as f32);
        let plane = &mut planes[ch * n..(ch + 1) * n];
        for (i, dst) in plane.iter_mut().enumerate() {
            let x = img[i * 3 + ch];
            *dst = match (c.backend, c.do_rescale, c.do_normalize) {
                (_, false, false) => x as f32,
                (_, false, true) => (x as f32 - m) / s,
                (ImageBackend::Pil, true, norm) => {
                    let v = (x as f64 * c.rescale_factor) as f32;
                    if norm { (v - m) / s } else { v }
                }
                (ImageBackend::Torchvision, true, false) => x as f32 * c.rescale_factor as f32,
                (ImageBackend::Torchvision, true, true) => (x as f32 - m * inv) / (s * inv),
            };
        }
    }
    planes
}

/// Processed image: flattened patches `[n_patches, C*T*P*P]` (row-major) and `grid_thw`.
#[derive(Debug, Clone)]
pub struct ProcessedImage {
    /// The patches, `n_patches * patch_dim` values, in the vision tower's input order (each
    /// 2x2 group of merged patches contiguous).
    pub pixel_values: Vec<f32>,
    /// Values per patch: `C * T * P * P` (3 * 2 * 14 * 14 = 1176 for Qwen2.5-VL).
    pub(crate) patch_dim: usize,
    /// The patch grid `[t, h, w]`: frames (1) and patches down and across.
    pub grid_thw: [usize; 3],
}

impl ProcessedImage {
    /// Number of `<|image_pad|>` tokens the image expands to.
    pub fn num_tokens(&self, merge_size: usize) -> usize {
        self.grid_thw.iter().product::<usize>() / (merge_size * merge_size)
    }
}

/// The Qwen2-VL image processor.
#[derive(Debug, Clone)]
pub struct Processor {
    /// Its settings.
    pub cfg: ProcessorConfig,
}

impl Processor {
    /// A processor with these settings.
    pub fn new(cfg: ProcessorConfig) -> Self {
        Self { cfg }
    }

    /// Process an RGB8 image (`width*height*3` bytes).
    pub(crate) fn process_rgb8(&self, rgb: &[u8], width: usize, height: usize) -> Result<ProcessedImage> {
        let c = &self.cfg;
        if rgb.len() != width * height * 3 {
            bail!("RGB buffer has {} bytes, expected {}x{}x3", rgb.len(), width, height);
        }
        let factor = c.patch_size * c.merge_size;
        let (rh, rw) = if c.do_resize {
            smart_resize(height, width, factor, c.min_pixels, c.max_pixels)?
        } else {
            (height, width)
        };
        if rh % factor != 0 || rw % factor != 0 {
            bail!("image size {rw}x{rh} is not a multiple of {factor}; enable do_resize");
        }
        let img = match (c.do_resize, c.backend) {
            (false, _) => rgb.to_vec(),
            (true, ImageBackend::Torchvision) => torchvision_bicubic_rgb8(rgb, width, height, rw, rh),
            (true, ImageBackend::Pil) => pil_bicubic_rgb8(rgb, width, height, rw, rh),
        };
        let planes = normalise(&img, c);
        let (p, t, m) = (c.patch_size, c.temporal_patch_size, c.merge_size);
        let (gh, gw) = (rh / p, rw / p);
        let patch_dim = 3 * t * p * p;
        let mut out = Vec::with_capacity(gh * gw * patch_dim);
        // order: (gh/m, gw/m, m, m) patches, each (C, T, P, P)
        for bh in 0..gh / m {
            for bw in 0..gw / m {
                for mh in 0..m {
                    for mw in 0..m {
                        let (py, px) = ((bh * m + mh) * p, (bw * m + mw) * p);
                        for ch in 0..3 {
                            for _ in 0..t {
                                for y in 0..p {
                                    let base = ch * rh * rw + (py + y) * rw + px;
                                    out.extend_from_slice(&planes[base..base + p]);
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(ProcessedImage { pixel_values: out, patch_dim, grid_thw: [1, gh, gw] })
    }

    /// Decode and process an image file (PNG/JPEG), converted to RGB like `convert("RGB")`.
    pub fn process_path(&self, path: &Path) -> Result<ProcessedImage> {
        let img = image::open(path).with_context(|| format!("reading image {}", path.display()))?;
        let rgb = img.to_rgb8();
        let (w, h) = rgb.dimensions();
        self.process_rgb8(rgb.as_raw(), w as usize, h as usize)
    }
}
