//! The transformers backend through the `cadrl_backend::Policy` trait on the tiny random
//! checkpoints (sharp weights, see the tch backend's `tests/python/make_tiny.py`), against
//! the references transformers and PEFT wrote there, which the tch backend's parity tests
//! hold libtorch to as well: teacher-forced log-probs (<= 1e-4 nats) with the torchvision
//! (tiny-a) and Pillow (tiny-c) processors, pair sums, RGB8 images, greedy tokens and
//! their log-probs, seeded sampling, a PEFT adapter switched on and off.
#![allow(clippy::unwrap_used)]
mod common;
use cadrl_backend::{Example, GenerateOptions, ImageInput, Policy, PreferencePair};
use common::*;

/// Images with reference completions: above max_pixels, resized twice, an exact grid.
const SCORED: [usize; 4] = [0, 1, 2, 4];

fn examples(r: &serde_json::Value, images: &[usize]) -> (Vec<Example>, Vec<Vec<f64>>) {
    let mut ex = vec![];
    let mut lps = vec![];
    for &i in images {
        for c in r["images"][i]["completions"].as_array().unwrap() {
            ex.push(Example {
                image: ImageInput::Path(image_path(r, i)),
                prompt: None,
                completion: c["text"].as_str().unwrap().to_string(),
            });
            lps.push(f64s(&c["logprobs"]));
        }
    }
    (ex, lps)
}

fn worst(got: &[Vec<f32>], want: &[Vec<f64>]) -> f64 {
    assert_eq!(got.len(), want.len());
    got.iter().zip(want).map(|(g, w)| max_abs_diff(g, w)).fold(0.0, f64::max)
}

#[test]
fn logprobs_and_pair_sums_match_transformers_on_both_image_processors() {
    let _t = turn();
    for (name, backend) in [("tiny-a", "torchvision"), ("tiny-c", "pil")] {
        let p = tiny_policy(name);
        assert_eq!(
            p.info()["image_backend"],
            backend,
            "{name}: processor chosen from preprocessor_config.json"
        );
        let r = reference(name);
        let (ex, want) = examples(&r, &SCORED);
        let got = p.logprobs(&ex, true).unwrap();
        let w = worst(&got, &want);
        eprintln!("{name}: teacher-forced log-probs, max abs diff {w:e} over {} sequences", ex.len());
        assert!(w <= TOL, "{name}: log-prob diff {w}");
        // the token convention: completion ids + <|im_end|>, as the reference's token_ids
        for (g, c) in
            got.iter().zip(SCORED.iter().flat_map(|&i| r["images"][i]["completions"].as_array().unwrap()))
        {
            assert_eq!(g.len(), c["token_ids"].as_array().unwrap().len());
        }

        // pairs: (completion 0, completion 1) and (2, 0) on two images, summed per side
        let img = |i: usize| ImageInput::Path(image_path(&r, i));
        let text =
            |i: usize, k: usize| r["images"][i]["completions"][k]["text"].as_str().unwrap().to_string();
        let pairs = vec![
            PreferencePair { image: img(1), prompt: None, chosen: text(1, 0), rejected: text(1, 1) },
            PreferencePair { image: img(4), prompt: None, chosen: text(4, 2), rejected: text(4, 0) },
        ];
        let sums = p.pair_logprobs(&pairs, true).unwrap();
        let lp = |i: usize, k: usize| f64s(&r["images"][i]["completions"][k]["logprobs"]).iter().sum::<f64>();
        let want = [(lp(1, 0), lp(1, 1)), (lp(4, 2), lp(4, 0))];
        for ((c, j), (wc, wj)) in sums.iter().zip(want) {
            let d = (c - wc).abs().max((j - wj).abs());
            assert!(d <= 40.0 * TOL, "{name}: pair sums {c} {j} vs {wc} {wj}");
        }
        // and equal to the backend's own per-token log-probs summed
        let own = p
            .logprobs(
                &[pairs[0].clone(), pairs[1].clone()]
                    .iter()
                    .flat_map(|q| {
                        [true, false].map(|ch| Example {
                            image: q.image.clone(),
                            prompt: None,
                            completion: if ch { q.chosen.clone() } else { q.rejected.clone() },
                        })
                    })
                    .collect::<Vec<_>>(),
                true,
            )
            .unwrap();
        let s = |v: &Vec<f32>| v.iter().map(|&x| f64::from(x)).sum::<f64>();
        for (k, (c, j)) in sums.iter().enumerate() {
            assert!(
                (c - s(&own[2 * k])).abs() < 1e-4 && (j - s(&own[2 * k + 1])).abs() < 1e-4,
                "{name} pair {k}"
            );
        }
    }
}

#[test]
fn rgb8_pixels_score_as_the_file_does() {
    let _t = turn();
    let p = tiny_policy("tiny-a");
    let r = reference("tiny-a");
    let (ex, want) = examples(&r, &[1, 4]);
    let rgb: Vec<Example> = ex
        .iter()
        .map(|e| {
            let ImageInput::Path(path) = &e.image else { unreachable!() };
            let img = image::open(path).unwrap().to_rgb8();
            let (w, h) = img.dimensions();
            Example {
                image: ImageInput::Rgb8 { width: w as usize, height: h as usize, data: img.into_raw() },
                ..e.clone()
            }
        })
        .collect();
    let got = p.logprobs(&rgb, true).unwrap();
    assert!(worst(&got, &want) <= TOL);
    assert_eq!(got, p.logprobs(&ex, true).unwrap(), "RGB8 and path inputs give the same pixels");
    // a buffer of the wrong size is refused before it reaches the worker
    let bad = Example { image: ImageInput::Rgb8 { width: 4, height: 4, data: vec![0; 47] }, ..ex[0].clone() };
    let e = p.logprobs(&[bad], true).unwrap_err().to_string();
    assert!(e.contains("4x4 needs 48 bytes, got 47"), "{e}");
}

#[test]
fn greedy_matches_transformers_and_sampling_is_seeded() {
    let _t = turn();
    let p = tiny_policy("tiny-a");
    let r = reference("tiny-a");
    let imgs: Vec<ImageInput> = SCORED.iter().map(|&i| ImageInput::Path(image_path(&r, i))).collect();
    let greedy = GenerateOptions { temperature: 0.0, max_new_tokens: 16, n: 2, ..Default::default() };
    let out = p.generate(&imgs, &greedy).unwrap();
    assert_eq!(out.len(), imgs.len());
    for (k, &i) in SCORED.iter().enumerate() {
        assert_eq!(out[k].len(), 2);
        assert_eq!(out[k][0], out[k][1], "greedy candidates are one decode");
        let want = u32s(&r["images"][i]["greedy"]);
        let got = &out[k][0].token_ids;
        assert_eq!(got[..], want[..got.len()], "image {i}: greedy tokens");
        assert_eq!(got.len(), 16.min(want.len()));
        // log-probs of the unmodified distribution: transformers' full forward over the tokens
        let full = f64s(&r["images"][i]["greedy_logprobs"]);
        let m = full.len().min(got.len());
        assert!(m >= 8);
        let d = max_abs_diff(&out[k][0].logprobs[..m], &full[..m]);
        eprintln!("image {i}: {} greedy tokens as transformers', log-probs within {d:e}", got.len());
        assert!(d <= TOL, "image {i}: {d}");
    }

    // sampling: n candidates per image, finite log-probs, reproducible by seed
    let sample = GenerateOptions {
        temperature: 1.0,
        top_p: 0.9,
        top_k: 50,
        max_new_tokens: 8,
        n: 3,
        seed: 7,
        prompt: None,
    };
    let a = p.generate(&imgs[..2], &sample).unwrap();
    assert_eq!(a.len(), 2);
    for cands in &a {
        assert_eq!(cands.len(), 3);
        for c in cands {
            assert!(!c.token_ids.is_empty() && c.token_ids.len() <= 8);
            assert_eq!(c.token_ids.len(), c.logprobs.len());
            assert!(c.logprobs.iter().all(|x| x.is_finite() && *x <= 0.0), "{:?}", c.logprobs);
        }
    }
    assert_ne!(a[0][0].token_ids, a[0][1].token_ids, "candidates differ");
    assert_eq!(a, p.generate(&imgs[..2], &sample).unwrap(), "the same seed gives the same candidates");
    assert_ne!(a, p.generate(&imgs[..2], &GenerateOptions { seed: 8, ..sample.clone() }).unwrap());

    // top-k 1 at a low temperature draws the greedy token; its log-prob is the model's
    // (temperature 1, no filtering), not the warped distribution's 0
    let k1 = GenerateOptions { temperature: 0.3, top_k: 1, max_new_tokens: 4, n: 2, ..Default::default() };
    let s = p.generate(&imgs[..1], &k1).unwrap();
    for c in &s[0] {
        assert_eq!(c.token_ids, out[0][0].token_ids[..4]);
        assert!(
            max_abs_diff(&c.logprobs, &out[0][0].logprobs[..4].iter().map(|&x| x as f64).collect::<Vec<_>>())
                < 1e-5
        );
        assert!(c.logprobs.iter().any(|&x| x < -1e-3), "{:?}", c.logprobs);
    }
}

#[test]
fn a_peft_adapter_loads_and_switches_off() {
    let _t = turn();
    let mut p = tiny_policy("tiny-a");
    let r = reference("tiny-a");
    let (ex, base) = examples(&r, &[1]);
    let adapter = tiny_dir().join("tiny-a/ref/peft_adapter");
    p.load_adapter(&adapter).unwrap();
    assert_eq!(p.adapter(), Some(adapter.as_path()));
    let peft: Vec<Vec<f64>> = r["peft"].as_array().unwrap().iter().map(f64s).collect();
    let on = worst(&p.logprobs(&ex, true).unwrap(), &peft);
    let off = worst(&p.logprobs(&ex, false).unwrap(), &base);
    eprintln!("PEFT adapter on: {on:e}; off (the base model): {off:e}");
    assert!(on <= TOL && off <= TOL, "on {on}, off {off}");
    assert!(worst(&p.logprobs(&ex, true).unwrap(), &base) > 100.0 * TOL, "the adapter changes the model");
    // loading it again replaces it (no adapter stacked on an adapter)
    p.load_adapter(&adapter).unwrap();
    assert!(worst(&p.logprobs(&ex, true).unwrap(), &peft) <= TOL);
    // sum per pair with the adapter off is the reference a DPO stage would cache
    let pair = PreferencePair {
        image: ex[0].image.clone(),
        prompt: None,
        chosen: ex[0].completion.clone(),
        rejected: ex[1].completion.clone(),
    };
    let (c, j) = p.pair_logprobs(&[pair], false).unwrap()[0];
    assert!((c - base[0].iter().sum::<f64>()).abs() < 1e-3 && (j - base[1].iter().sum::<f64>()).abs() < 1e-3);
}
