//! Profiling helper: time the phases of generation on a checkpoint.
use cadrl_backend_tch::generate::{GenerateOptions, generate};
use cadrl_backend_tch::nn::Ctx;
use cadrl_backend_tch::text::causal_mask;
use cadrl_backend_tch::*;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    set_num_threads(std::env::var("T").ok().and_then(|x| x.parse().ok()).unwrap_or(2));
    let spec = ModelSpec { path_or_id: a[1].clone(), device: DeviceSpec::Cpu, dtype: DType::F32 };
    let policy = QwenVlPolicy::load(&spec, None)?;
    let img = policy.process_image(&ImageInput::Path(a[2].clone().into()))?;
    let m = &policy.model;
    let prompt: Vec<i64> = policy
        .tokenizer
        .prompt_ids(chat::DEFAULT_PROMPT, Some(img.num_tokens(2)))?
        .into_iter()
        .map(i64::from)
        .collect();
    tch::no_grad(|| -> anyhow::Result<()> {
        for _ in 0..3 {
            let t = Instant::now();
            let f = m.image_features(&[&img], &Ctx::EVAL);
            let tv = t.elapsed();
            let seqs = vec![prompt.clone(); 8];
            let grids = vec![vec![img.grid_thw]; 8];
            let b = m.make_batch(&seqs, &grids, 0, true)?;
            let f8 = tch::Tensor::cat(&(0..8).map(|_| f.shallow_clone()).collect::<Vec<_>>(), 0);
            let t = Instant::now();
            let e = m.embed(&b.ids, Some(&f8))?;
            let mask = causal_mask(&b.valid, 0, b.len);
            let (cos, sin) = m.text.rope(&b.positions, e.kind());
            let te = t.elapsed();
            let t = Instant::now();
            let mut x = e;
            for i in 0..m.text.layers.len() {
                x = m.text.layer_forward(i, &x, &cos, &sin, Some(&mask), None, &Ctx::EVAL);
            }
            let tl = t.elapsed();
            let t = Instant::now();
            let _ = m.text.logits(&x);
            eprintln!("vision {tv:?} embed+mask+rope {te:?} layers {tl:?} full logits {:?}", t.elapsed());
        }
        Ok(())
    })?;
    tch::no_grad(|| {
        let h = tch::Tensor::randn([8, m.text.cfg.hidden_size as i64], (tch::Kind::Float, tch::Device::Cpu));
        let sp = GenerateOptions { n: 8, top_p: 0.95, max_new_tokens: 1, ..Default::default() };
        for _ in 0..3 {
            let t = Instant::now();
            let lg = m.text.logits(&h);
            let t1 = t.elapsed();
            let t = Instant::now();
            let lp = lg.log_softmax(-1, tch::Kind::Float);
            let t2 = t.elapsed();
            let t = Instant::now();
            let pr = cadrl_backend_tch::generate::tempered_probs(&lg, &sp);
            let row = Vec::<f32>::try_from(pr.get(0)).unwrap_or_default();
            let kept = cadrl_backend_tch::generate::top_p_support(&row, 0.95).len();
            let t3 = t.elapsed();
            let t = Instant::now();
            let _ = lg.argmax(-1, false);
            eprintln!(
                "head {t1:?} log_softmax {t2:?} support {t3:?} (kept {kept} of row 0) argmax {:?} {:?}",
                t.elapsed(),
                lp.size()
            );
        }
    });
    for (n, mx) in [(8, 1), (8, 64)] {
        let sp = GenerateOptions { n, top_p: 0.95, max_new_tokens: mx, ..Default::default() };
        let t = Instant::now();
        let _ = generate(m, &[(&img, prompt.clone())], &sp, &[], 0)?;
        eprintln!("generate n={n} max_new={mx}: {:?}", t.elapsed());
    }
    Ok(())
}
