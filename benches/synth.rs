//! Synthetic data throughput: `cargo bench --bench synth`.
//!
//! - `synth/sample_all_cores`: generate, validate (native execution, mass
//!   properties) and render a batch of samples with rayon on every core (what
//!   `cadrl data synth` does before PNG encoding);
//! - `synth/generate_validate_1core`, `synth/render_1core`, `synth/png_encode_1core`:
//!   the stages alone on one core, to see where the time goes.

use std::time::Duration;

use cadrl::data::synth::{SynthConfig, check, generate, generate_program, sample};
use criterion::{Criterion, Throughput};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const BATCH: u64 = 64;

fn main() {
    let cfg = SynthConfig::default();
    let mut c =
        Criterion::default().configure_from_args().sample_size(10).measurement_time(Duration::from_secs(8));
    let mut g = c.benchmark_group("synth");
    g.throughput(Throughput::Elements(BATCH));
    let mut seed = 0u64;
    g.bench_function(format!("sample_all_cores_{}t", rayon::current_num_threads()), |b| {
        b.iter(|| {
            seed += 1;
            generate(&cfg, seed, 0, BATCH).len()
        })
    });
    g.bench_function("generate_validate_1core", |b| {
        b.iter(|| {
            seed += 1;
            (0..BATCH)
                .filter(|&i| {
                    let mut rng = ChaCha8Rng::seed_from_u64(seed);
                    rng.set_stream(i);
                    check(&cfg, &generate_program(&cfg, &mut rng)).is_ok()
                })
                .count()
        })
    });
    let solids: Vec<_> = (0..BATCH).filter_map(|i| sample(&cfg, 99, i)).collect();
    g.throughput(Throughput::Elements(solids.len() as u64));
    g.bench_function("render_1core", |b| {
        b.iter(|| solids.iter().map(|s| cadrl_rewards::render::render(&s.solid).len()).sum::<usize>())
    });
    g.bench_function("png_encode_1core", |b| {
        b.iter(|| {
            solids
                .iter()
                .map(|s| {
                    let mut buf = Vec::new();
                    s.image
                        .write_to(&mut std::io::Cursor::new(&mut buf), image::ImageFormat::Png)
                        .map(|_| buf.len())
                        .unwrap_or(0)
                })
                .sum::<usize>()
        })
    });
    g.finish();
    c.final_summary();
}
