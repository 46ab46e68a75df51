//! Bicubic resizing of RGB8 images, bit-exact with the two resamplers transformers' Qwen2-VL
//! image processors use: torchvision's (`tvF.resize(uint8, BICUBIC, antialias=True)`, i.e.
//! libtorch's `_upsample_bicubic2d_aa` on uint8 CPU tensors) and Pillow 13's
//! `Image.resize(BICUBIC)`. Both are separable, antialiased (the kernel widens by the
//! downscale factor), fixed point, and round to 8 bits between the two passes. They differ in
//! the weights' precision (torchvision: int16 with a precision chosen per pass from the largest
//! weight; Pillow: 22 bits), in the kernel polynomial's floating-point form, and in the order
//! of the passes (torchvision: always horizontal first; Pillow: vertical first when the height
//! shrinks by more than twice as many pixels as the width does).

/// Which resampler to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    Torchvision,
    Pil,
}

/// Fixed-point weights of one pass: per output pixel the first input index and the count of
/// inputs, `ksize` weights each (zero beyond the count), scaled by `2^precision`.
struct Coeffs {
    ksize: usize,
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
    precision: u32,
}

/// Keys' cubic with a = -0.5, in the form each library evaluates it (the results can differ
/// in the last bit, which can flip a fixed-point weight).
fn cubic(x: f64, f: Flavour) -> f64 {
    let a = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        match f {
            Flavour::Pil => (((x - 5.0) * x + 8.0) * x - 4.0) * a,
            Flavour::Torchvision => ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a,
        }
    } else {
        0.0
    }
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc`, or libtorch's
/// `_compute_index_ranges_weights` + `_compute_index_ranges_int16_weights`.
fn coeffs(in_size: usize, out_size: usize, f: Flavour) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut norm = vec![0f64; out_size * ksize];
    let mut bounds = Vec::with_capacity(out_size);
    let mut wmax = 0f64;
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let inv = 1.0 / filterscale;
        // C casts truncate toward zero; `as i64` does too
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let n = (((center + support + 0.5) as i64).min(in_size as i64) as usize - xmin).min(ksize);
        let row = &mut norm[xx * ksize..xx * ksize + n];
        let mut total = 0.0;
        for (x, w) in row.iter_mut().enumerate() {
            *w = cubic((x as f64 + xmin as f64 - center + 0.5) * inv, f);
            total += *w;
        }
        if total != 0.0 {
            for w in row.iter_mut() {
                *w /= total;
                wmax = wmax.max(*w);
            }
        }
        bounds.push((xmin, n));
    }
    let precision = match f {
        Flavour::Pil => 32 - 8 - 2,
        Flavour::Torchvision => {
            // the largest precision whose largest weight still fits an int16
            let mut p = 0;
            while p < 22 && ((0.5 + wmax * (1u64 << (p + 1)) as f64) as i64) < (1 << 15) {
                p += 1;
            }
            p
        }
    };
    let one = (1u64 << precision) as f64;
    let weights = norm
        .iter()
        .map(|&w| if w < 0.0 { (-0.5 + w * one) as i32 } else { (0.5 + w * one) as i32 })
        .collect();
    Coeffs { ksize, bounds, weights, precision }
}

#[inline]
fn clip8(acc: i64, precision: u32) -> u8 {
    (acc >> precision).clamp(0, 255) as u8
}

/// Horizontal pass over `rows` rows of width `w` to width `c.bounds.len()`.
fn pass_h(src: &[u8], w: usize, rows: usize, c: &Coeffs) -> Vec<u8> {
    let ow = c.bounds.len();
    let mut out = vec![0u8; ow * rows * 3];
    let half = 1i64 << (c.precision - 1);
    for (row, dst) in src.chunks_exact(w * 3).zip(out.chunks_exact_mut(ow * 3)) {
        for (xx, &(xmin, n)) in c.bounds.iter().enumerate() {
            let k = &c.weights[xx * c.ksize..xx * c.ksize + n];
            for ch in 0..3 {
                let mut acc = half;
                for (x, &kx) in k.iter().enumerate() {
                    acc += row[(x + xmin) * 3 + ch] as i64 * kx as i64;
                }
                dst[xx * 3 + ch] = clip8(acc, c.precision);
            }
        }
    }
    out
}

/// Vertical pass over an image of width `w` to height `c.bounds.len()`.
fn pass_v(src: &[u8], w: usize, c: &Coeffs) -> Vec<u8> {
    let oh = c.bounds.len();
    let stride = w * 3;
    let mut out = vec![0u8; stride * oh];
    let half = 1i64 << (c.precision - 1);
    for (yy, dst) in out.chunks_exact_mut(stride).enumerate() {
        let (ymin, n) = c.bounds[yy];
        let k = &c.weights[yy * c.ksize..yy * c.ksize + n];
        for (i, d) in dst.iter_mut().enumerate() {
            let mut acc = half;
            for (y, &ky) in k.iter().enumerate() {
                acc += src[(y + ymin) * stride + i] as i64 * ky as i64;
            }
            *d = clip8(acc, c.precision);
        }
    }
    out
}

fn resize(src: &[u8], w: usize, h: usize, ow: usize, oh: usize, f: Flavour) -> Vec<u8> {
    assert_eq!(src.len(), w * h * 3, "RGB8 buffer of {w}x{h}");
    assert!(ow > 0 && oh > 0, "resize to an empty image ({ow}x{oh})");
    let horizontal = |s: &[u8], rows: usize| pass_h(s, w, rows, &coeffs(w, ow, f));
    let vertical = |s: &[u8], width: usize| pass_v(s, width, &coeffs(h, oh, f));
    match (ow != w, oh != h) {
        (false, false) => src.to_vec(),
        (true, false) => horizontal(src, h),
        (false, true) => vertical(src, w),
        (true, true) => {
            // Pillow 13: vertical first iff the height loses more than twice the pixels the
            // width loses (always when the height shrinks and the width does not)
            let vertical_first = f == Flavour::Pil && oh < h && (h - oh) as i64 > 2 * (w as i64 - ow as i64);
            if vertical_first { horizontal(&vertical(src, w), oh) } else { vertical(&horizontal(src, h), ow) }
        }
    }
}

/// torchvision's `resize(img_uint8_chw, [oh, ow], BICUBIC, antialias=True)` on CPU (what
/// transformers 5's default `Qwen2VLImageProcessor` calls) on a row-major RGB8 buffer.
pub fn torchvision_bicubic_rgb8(src: &[u8], w: usize, h: usize, ow: usize, oh: usize) -> Vec<u8> {
    resize(src, w, h, ow, oh, Flavour::Torchvision)
}

/// Pillow 13's `Image.resize((ow, oh), BICUBIC)` (what `Qwen2VLImageProcessorPil` calls) on a
/// row-major RGB8 buffer.
pub fn pil_bicubic_rgb8(src: &[u8], w: usize, h: usize, ow: usize, oh: usize) -> Vec<u8> {
    resize(src, w, h, ow, oh, Flavour::Pil)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_and_precision_fits_int16() {
        for (i, o) in [(397, 392), (263, 252), (100, 112), (1000, 28), (5, 28), (1, 56), (448, 448)] {
            for f in [Flavour::Torchvision, Flavour::Pil] {
                let c = coeffs(i, o, f);
                let one = 1i64 << c.precision;
                for (xx, &(_, n)) in c.bounds.iter().enumerate() {
                    let s: i64 = c.weights[xx * c.ksize..xx * c.ksize + n].iter().map(|&k| k as i64).sum();
                    assert!((s - one).abs() <= n as i64, "{i}->{o} {f:?}: weights sum {s} vs {one}");
                }
                if f == Flavour::Torchvision {
                    assert!(c.weights.iter().all(|&k| i16::try_from(k).is_ok()), "{i}->{o}: int16");
                }
            }
        }
    }

    #[test]
    fn constant_images_stay_constant() {
        let src = vec![77u8; 37 * 90 * 3];
        for f in [Flavour::Torchvision, Flavour::Pil] {
            for (ow, oh) in [(56, 112), (28, 28), (37, 45), (100, 90)] {
                assert!(resize(&src, 37, 90, ow, oh, f).iter().all(|&v| v == 77), "{f:?} {ow}x{oh}");
            }
        }
    }
}
