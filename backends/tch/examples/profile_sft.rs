//! Profiling helper: time the phases of a LoRA SFT step on a checkpoint.
use cadrl_backend_tch::nn::Ctx;
use cadrl_backend_tch::train::Targets;
use cadrl_backend_tch::*;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    set_num_threads(std::env::var("T").ok().and_then(|x| x.parse().ok()).unwrap_or(1));
    let spec = ModelSpec { path_or_id: a[1].clone(), device: DeviceSpec::Cpu, dtype: DType::F32 };
    let lora = LoraConfig { r: 16, alpha: 32.0, dropout: 0.0, ..Default::default() };
    let mut policy = QwenVlPolicy::load(&spec, Some(lora))?;
    let img = policy.process_image(&ImageInput::Path(a[2].clone().into()))?;
    let ex: Vec<Example> = (0..4)
        .map(|_| Example {
            image: ImageInput::Path(a[2].clone().into()),
            prompt: None,
            completion:
                "import cadquery as cq\nresult = cq.Workplane('XY').box(10, 20, 5).faces('>Z').hole(2)\n"
                    .into(),
        })
        .collect();
    for _ in 0..3 {
        let t = Instant::now();
        let s = policy.sft_step(&ex)?;
        eprintln!("sft_step {:?} loss {}", t.elapsed(), s.loss);
    }
    let m = &policy.model;
    let ctx = Ctx { lora_on: true, train: true };
    let prompt: Vec<i64> = policy
        .tokenizer
        .prompt_ids(chat::DEFAULT_PROMPT, Some(img.num_tokens(2)))?
        .into_iter()
        .map(i64::from)
        .collect();
    let comp: Vec<i64> =
        policy.tokenizer.completion_ids(&ex[0].completion)?.into_iter().map(i64::from).collect();
    let mut seq = prompt.clone();
    seq.extend(&comp);
    for _ in 0..2 {
        let t = Instant::now();
        let f = tch::no_grad(|| m.image_features(&[&img, &img, &img, &img], &ctx));
        let tv = t.elapsed();
        let b = m.make_batch(&vec![seq.clone(); 4], &vec![vec![img.grid_thw]; 4], 0, false)?;
        let tg = Targets::for_completions(&[prompt.len(); 4], &vec![comp.clone(); 4]);
        let t = Instant::now();
        let h = m.hidden(&b, Some(&f), &ctx)?;
        let lp = m.gather_logprobs(&h, &tg.rows, &tg.cols, &tg.ids);
        let loss = lp.mean(tch::Kind::Float).neg();
        let tf = t.elapsed();
        let t = Instant::now();
        loss.backward();
        eprintln!("vision {tv:?} forward {tf:?} backward {:?}", t.elapsed());
    }
    Ok(())
}
