//! Image preprocessing parity with transformers 5 (references made by the test venv's
//! transformers, torchvision and Pillow, see `python/make_pixels.py`): bicubic resizes
//! byte-exact with torchvision and with Pillow on 30 size pairs, full processor pixel values
//! of both `Qwen2VLImageProcessor` (torchvision, the default) and `Qwen2VLImageProcessorPil`
//! on 22 image sizes under two pixel bounds, and the size / min_pixels / max_pixels keys
//! resolved as transformers resolves them.
#![allow(clippy::unwrap_used)]
mod common;
use cadrl_backend_tch::loading::read_safetensors;
use cadrl_backend_tch::processor::{ImageBackend, Processor, ProcessorConfig};
use cadrl_backend_tch::resize::{pil_bicubic_rgb8, torchvision_bicubic_rgb8};
use common::pixels_dir;
use serde_json::Value;
use std::path::Path;

fn json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn rgb(p: &Path) -> (Vec<u8>, usize, usize) {
    let img = image::open(p).unwrap().to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    (img.into_raw(), w, h)
}

/// (bytes that differ, largest difference in levels)
fn byte_diff(a: &[u8], b: &[u8]) -> (usize, u8) {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).filter(|(x, y)| x != y).fold((0, 0), |(n, m), (x, y)| (n + 1, m.max(x.abs_diff(*y))))
}

fn pair(v: &Value) -> (usize, usize) {
    (v[0].as_u64().unwrap() as usize, v[1].as_u64().unwrap() as usize)
}

#[test]
fn bicubic_resize_is_byte_exact_with_torchvision_and_pillow() {
    let dir = pixels_dir();
    let m = json(&dir.join("manifest.json"));
    eprintln!("references by {}", m["versions"]);
    let refs = read_safetensors(&dir.join("resize.safetensors"), None, tch::Device::Cpu).unwrap();
    let mut failures = vec![];
    let mut apart = 0;
    for (i, p) in m["resize_pairs"].as_array().unwrap().iter().enumerate() {
        let ((w, h), (ow, oh)) = (pair(&p[0]), pair(&p[1]));
        let (src, sw, sh) = rgb(&dir.join(format!("resize/img{i}.png")));
        assert_eq!((sw, sh), (w, h));
        let tv = torchvision_bicubic_rgb8(&src, w, h, ow, oh);
        let pil = pil_bicubic_rgb8(&src, w, h, ow, oh);
        let want_tv = Vec::<u8>::try_from(refs[&format!("tv_{i}")].flatten(0, -1)).unwrap();
        let want_pil = Vec::<u8>::try_from(refs[&format!("pil_{i}")].flatten(0, -1)).unwrap();
        let (dt, dp, cross) = (byte_diff(&tv, &want_tv), byte_diff(&pil, &want_pil), byte_diff(&tv, &pil));
        eprintln!(
            "{w}x{h} -> {ow}x{oh}: torchvision {} bytes differ (max {}), Pillow {} (max {}); \
             torchvision vs Pillow: {} bytes, max {} levels",
            dt.0, dt.1, dp.0, dp.1, cross.0, cross.1
        );
        if dt.0 > 0 || dp.0 > 0 {
            failures.push(format!("{w}x{h}->{ow}x{oh}"));
        }
        apart += usize::from(cross.0 > 0);
    }
    assert!(failures.is_empty(), "resizes differ from the references: {failures:?}");
    // the two references differ, so each comparison tells the resamplers apart
    assert!(apart >= 20, "only {apart} pairs tell torchvision and Pillow apart");
}

#[test]
fn processor_pixels_match_both_transformers_processors() {
    let dir = pixels_dir();
    let m = json(&dir.join("manifest.json"));
    let sizes = m["proc_sizes"].as_array().unwrap();
    let mut tv_refs = std::collections::HashMap::new();
    for backend in [ImageBackend::Torchvision, ImageBackend::Pil] {
        for bounds in ["small", "large"] {
            let d = dir.join(format!("proc/{}-{bounds}", backend.name()));
            let cfg = ProcessorConfig::from_dir(&d).unwrap();
            assert_eq!(cfg.backend, backend, "{}", d.display());
            let proc = Processor::new(cfg);
            let refs = read_safetensors(&d.join("pixels.safetensors"), None, tch::Device::Cpu).unwrap();
            let (mut worst, mut resized) = (0f32, 0);
            for (j, s) in sizes.iter().enumerate() {
                let (w, h) = pair(s);
                let img = proc.process_path(&dir.join(format!("proc/img{j}.png"))).unwrap();
                let grid = Vec::<i64>::try_from(&refs[&format!("grid_thw_{j}")]).unwrap();
                let got_grid: Vec<i64> = img.grid_thw.iter().map(|&x| x as i64).collect();
                assert_eq!(got_grid, grid, "{} {bounds}: grid of {w}x{h}", backend.name());
                let want = Vec::<f32>::try_from(refs[&format!("pixel_values_{j}")].flatten(0, -1)).unwrap();
                assert_eq!(img.pixel_values.len(), want.len());
                let d = img.pixel_values.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                assert!(d <= 1e-6, "{} {bounds}: pixel values of {w}x{h} differ by {d}", backend.name());
                worst = worst.max(d);
                resized += usize::from((grid[1] * 14, grid[2] * 14) != (h as i64, w as i64));
                if backend == ImageBackend::Torchvision {
                    tv_refs.insert((bounds, j), want);
                } else {
                    // the Pillow path against the torchvision reference: the test can tell them apart
                    let tv = &tv_refs[&(bounds, j)];
                    let x = img.pixel_values.iter().zip(tv).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                    eprintln!("  {bounds} {w}x{h}: Pillow path vs torchvision reference {x:e}");
                }
            }
            eprintln!(
                "{} {bounds}: {} images ({resized} resized), pixel max abs diff {worst:e}",
                backend.name(),
                sizes.len()
            );
            assert!(resized >= 18, "{resized} resized images");
        }
    }
}

#[test]
fn size_keys_resolve_as_in_transformers() {
    let dir = pixels_dir();
    let want = json(&dir.join("sizes.json"));
    for (case, w) in want.as_object().unwrap() {
        let got = ProcessorConfig::from_dir(&dir.join("sizes").join(case));
        match w {
            Value::Array(b) => {
                let c = got.unwrap_or_else(|e| panic!("{case}: {e:#}"));
                let bounds = (b[0].as_u64().unwrap() as usize, b[1].as_u64().unwrap() as usize);
                assert_eq!((c.min_pixels, c.max_pixels), bounds, "{case}");
                assert_eq!(c.backend, ImageBackend::Torchvision, "{case}: the default backend");
            }
            _ => {
                let e = format!("{:#}", got.expect_err(case));
                assert!(e.contains("min_pixels and max_pixels"), "{case}: {e}");
                eprintln!("{case}: transformers fails ({w}); we fail too: {e}");
            }
        }
    }
    let bad = serde_json::json!({"image_backend": "opencv"});
    let e = ProcessorConfig::from_json(&bad).unwrap_err().to_string();
    assert!(e.contains("\"torchvision\" or \"pil\""), "{e}");
}
