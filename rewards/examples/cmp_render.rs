use image::GenericImageView;
fn mask(img: &image::RgbImage) -> Vec<bool> { img.pixels().map(|p| (p[0] as u32 + p[1] as u32 + p[2] as u32) < 750).collect() }
fn bbox(m: &[bool], n: usize) -> (usize, usize, usize, usize) {
    let (mut x0, mut x1, mut y0, mut y1) = (n, 0, n, 0);
    for (i, &b) in m.iter().enumerate() { if b { let (x, y) = (i % n, i / n); x0 = x0.min(x); x1 = x1.max(x); y0 = y0.min(y); y1 = y1.max(y); } }
    (x0, x1, y0, y1)
}
fn main() {
    let text = std::fs::read_to_string("/work/shared/fixtures/gencad-dev/cases.jsonl").unwrap();
    for l in text.lines() {
        let c: serde_json::Value = serde_json::from_str(l).unwrap();
        let s = cadrl_rewards::exec::execute_native(c["code"].as_str().unwrap(), "solid");
        let s = s.solid().unwrap();
        let ours = cadrl_rewards::render::render(s);
        let theirs = image::open(format!("/work/shared/fixtures/gencad-dev/{}", c["image"].as_str().unwrap())).unwrap().to_rgb8();
        let _ = theirs.dimensions();
        let (a, b) = (mask(&ours), mask(&theirs));
        let inter = a.iter().zip(&b).filter(|(x, y)| **x && **y).count();
        let uni = a.iter().zip(&b).filter(|(x, y)| **x || **y).count();
        println!("{} raw silhouette IoU {:.4} ours {:?} theirs {:?}", c["id"], inter as f64 / uni as f64, bbox(&a, 448), bbox(&b, 448));
    }
}
