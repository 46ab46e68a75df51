//! The renderer against the data set's own images of the 17 fixture programs.

use cadrl_rewards::exec::execute_native;
use cadrl_rewards::render::{BACKGROUND, EDGE, FACE, SIZE, render};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/gencad-dev");

/// The data set's image of this program shows only two of its three bodies (the
/// thin plate is missing from the render), so no renderer of the program can match.
const DATASET_IMAGE_DIFFERS: &[&str] = &["00129614"];

fn dark(p: &image::Rgb<u8>) -> bool {
    (p[0] as u32 + p[1] as u32 + p[2] as u32) < 750
}
fn black(p: &image::Rgb<u8>) -> bool {
    p[0] < 60 && p[1] < 60 && p[2] < 60
}

#[test]
fn renders_match_the_dataset_images() {
    let text = std::fs::read_to_string(format!("{FIXTURES}/cases.jsonl")).expect("fixtures");
    let mut worst = (1.0f64, String::new());
    let mut edge_worst = 1.0f64;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let c: serde_json::Value = serde_json::from_str(line).expect("json");
        let id = c["id"].as_str().unwrap_or_default();
        let o = execute_native(c["code"].as_str().unwrap_or_default(), "solid");
        let ours = render(o.solid().expect("valid fixture"));
        assert_eq!(ours.dimensions(), (SIZE, SIZE));
        assert!(ours.pixels().all(|p| [BACKGROUND, FACE, EDGE].contains(&p.0)), "palette");
        let theirs = image::open(format!("{FIXTURES}/{}", c["image"].as_str().unwrap_or_default()))
            .expect("png")
            .to_rgb8();
        // silhouettes in place (same framing, no alignment)
        let (mut inter, mut union) = (0usize, 0usize);
        for (a, b) in ours.pixels().zip(theirs.pixels()) {
            inter += (dark(a) && dark(b)) as usize;
            union += (dark(a) || dark(b)) as usize;
        }
        let iou = inter as f64 / union as f64;
        // edges: share of our edge pixels within 2 px of one of theirs
        let near = |x: u32, y: u32| {
            (x.saturating_sub(2)..=(x + 2).min(SIZE - 1))
                .any(|i| (y.saturating_sub(2)..=(y + 2).min(SIZE - 1)).any(|j| black(theirs.get_pixel(i, j))))
        };
        let ours_edges: Vec<(u32, u32)> =
            ours.enumerate_pixels().filter(|(_, _, p)| p.0 == EDGE).map(|(x, y, _)| (x, y)).collect();
        let placed =
            ours_edges.iter().filter(|(x, y)| near(*x, *y)).count() as f64 / ours_edges.len().max(1) as f64;
        println!("{id}: silhouette IoU {iou:.4}, edges within 2 px {placed:.3}");
        if DATASET_IMAGE_DIFFERS.contains(&id) {
            assert!(iou < 0.5, "{id} is listed as differing but matches; remove it from the list");
            continue;
        }
        if iou < worst.0 {
            worst = (iou, id.to_string());
        }
        edge_worst = edge_worst.min(placed);
    }
    println!("worst silhouette IoU {:.4} ({}), worst edge placement {edge_worst:.3}", worst.0, worst.1);
    assert!(worst.0 > 0.95, "silhouettes");
    // curved parts: OCCT draws fewer silhouette pixels on cylinders than we do
    assert!(edge_worst > 0.8, "edge placement");
}
