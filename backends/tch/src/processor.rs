//! Image processor equal to transformers' Qwen2-VL one (PIL backend): `smart_resize` with
//! min/max pixels, PIL's bicubic resampling (separable, antialiased, 8-bit fixed point:
//! bit-exact), rescale and normalise, temporal duplication, patch order and `grid_thw`.
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::Path;

/// Resolved `preprocessor_config.json`.
#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    pub min_pixels: usize,
    pub max_pixels: usize,
    pub patch_size: usize,
    pub temporal_patch_size: usize,
    pub merge_size: usize,
    pub image_mean: [f64; 3],
    pub image_std: [f64; 3],
    pub rescale_factor: f64,
    pub do_resize: bool,
    pub do_rescale: bool,
    pub do_normalize: bool,
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
        let mut c = Self::default();
        let u = |k: &str| v.get(k).and_then(|x| x.as_u64()).map(|x| x as usize);
        let size = v.get("size");
        let su = |k: &str| size.and_then(|s| s.get(k)).and_then(|x| x.as_u64()).map(|x| x as usize);
        if let Some(x) = u("min_pixels").or_else(|| su("shortest_edge")).or_else(|| su("min_pixels")) {
            c.min_pixels = x;
        }
        if let Some(x) = u("max_pixels").or_else(|| su("longest_edge")).or_else(|| su("max_pixels")) {
            c.max_pixels = x;
        }
        if let Some(x) = u("patch_size") {
            c.patch_size = x;
        }
        if let Some(x) = u("temporal_patch_size") {
            c.temporal_patch_size = x;
        }
        if let Some(x) = u("merge_size") {
            c.merge_size = x;
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
            bail!("{}: only bicubic resampling (3) is supported, got {r}", p.display());
        }
        Ok(c)
    }
}

/// Python's `round()` (half to even) of a non-negative float.
fn py_round(x: f64) -> f64 {
    let r = x.round();
    if x.fract() == 0.5 && r % 2.0 != 0.0 { r - 1.0 } else { r }
}

/// transformers' `smart_resize`: returns (height, width), both multiples of `factor`.
pub fn smart_resize(
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

fn bicubic_filter(x: f64) -> f64 {
    let a = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * a
    } else {
        0.0
    }
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// PIL `precompute_coeffs` + `normalize_coeffs_8bpc`: (ksize, bounds (xmin, xcount), fixed-point kernel).
fn precompute_coeffs(in_size: usize, out_size: usize) -> (usize, Vec<(usize, usize)>, Vec<i32>) {
    let support_base = 2.0;
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = support_base * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut kk = vec![0i32; out_size * ksize];
    let mut bounds = Vec::with_capacity(out_size);
    let mut pre = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax - xmin;
        let mut ww = 0.0;
        for (x, p) in pre.iter_mut().enumerate().take(n) {
            let w = bicubic_filter((x as f64 + xmin as f64 - center + 0.5) * ss);
            *p = w;
            ww += w;
        }
        for x in 0..ksize {
            let w = if x < n && ww != 0.0 {
                pre[x] / ww
            } else if x < n {
                pre[x]
            } else {
                0.0
            };
            let f = w * (1u64 << PRECISION_BITS) as f64;
            kk[xx * ksize + x] = if w < 0.0 { (-0.5 + f) as i32 } else { (0.5 + f) as i32 };
        }
        bounds.push((xmin, n));
    }
    (ksize, bounds, kk)
}

#[inline]
fn clip8(v: i64) -> u8 {
    (v >> PRECISION_BITS).clamp(0, 255) as u8
}

fn resample_h(src: &[u8], w: usize, rows: usize, ow: usize) -> Vec<u8> {
    let (ks, b, k) = precompute_coeffs(w, ow);
    let mut out = vec![0u8; ow * rows * 3];
    for yy in 0..rows {
        let row = &src[yy * w * 3..(yy + 1) * w * 3];
        for xx in 0..ow {
            let (xmin, n) = b[xx];
            let kk = &k[xx * ks..xx * ks + n];
            for c in 0..3 {
                let mut ss: i64 = 1 << (PRECISION_BITS - 1);
                for (x, &kx) in kk.iter().enumerate() {
                    ss += row[(x + xmin) * 3 + c] as i64 * kx as i64;
                }
                out[(yy * ow + xx) * 3 + c] = clip8(ss);
            }
        }
    }
    out
}

fn resample_v(src: &[u8], w: usize, h: usize, oh: usize) -> Vec<u8> {
    let (ks, b, k) = precompute_coeffs(h, oh);
    let mut out = vec![0u8; w * oh * 3];
    for yy in 0..oh {
        let (ymin, n) = b[yy];
        let kk = &k[yy * ks..yy * ks + n];
        for xx in 0..w {
            for c in 0..3 {
                let mut ss: i64 = 1 << (PRECISION_BITS - 1);
                for (y, &ky) in kk.iter().enumerate() {
                    ss += src[((y + ymin) * w + xx) * 3 + c] as i64 * ky as i64;
                }
                out[(yy * w + xx) * 3 + c] = clip8(ss);
            }
        }
    }
    out
}

/// PIL `Image.resize((w, h), BICUBIC)` on an RGB8 buffer (row-major, 3 channels), bit-exact
/// with Pillow 13: two separable passes with 8-bit rounding in between; the vertical pass
/// goes first when widening while reducing the height, the horizontal one otherwise.
pub fn resize_bicubic_rgb8(src: &[u8], w: usize, h: usize, ow: usize, oh: usize) -> Vec<u8> {
    let (need_h, need_v) = (ow != w, oh != h);
    match (need_h, need_v) {
        (false, false) => src.to_vec(),
        (true, false) => resample_h(src, w, h, ow),
        (false, true) => resample_v(src, w, h, oh),
        (true, true) if ow > w && oh < h => resample_h(&resample_v(src, w, h, oh), w, oh, ow),
        (true, true) => resample_v(&resample_h(src, w, h, ow), ow, h, oh),
    }
}

/// Processed image: flattened patches `[n_patches, C*T*P*P]` (row-major) and `grid_thw`.
#[derive(Debug, Clone)]
pub struct ProcessedImage {
    pub pixel_values: Vec<f32>,
    pub patch_dim: usize,
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
    pub cfg: ProcessorConfig,
}

impl Processor {
    pub fn new(cfg: ProcessorConfig) -> Self {
        Self { cfg }
    }

    /// Process an RGB8 image (`width*height*3` bytes).
    pub fn process_rgb8(&self, rgb: &[u8], width: usize, height: usize) -> Result<ProcessedImage> {
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
        let img = if c.do_resize { resize_bicubic_rgb8(rgb, width, height, rw, rh) } else { rgb.to_vec() };
        // channel-first float planes, rescale in f64 then f32 (numpy semantics), normalise in f32
        let mut planes = vec![0f32; 3 * rh * rw];
        for ch in 0..3 {
            let (m, s) = (c.image_mean[ch] as f32, c.image_std[ch] as f32);
            for i in 0..rh * rw {
                let mut v = img[i * 3 + ch] as f32;
                if c.do_rescale {
                    v = (img[i * 3 + ch] as f64 * c.rescale_factor) as f32;
                }
                if c.do_normalize {
                    v = (v - m) / s;
                }
                planes[ch * rh * rw + i] = v;
            }
        }
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
