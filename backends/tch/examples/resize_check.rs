//! Debug helper: resize an image with our PIL-exact bicubic and write raw RGB bytes.
fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let img = image::open(&a[1])?.to_rgb8();
    let (w, h) = img.dimensions();
    let (ow, oh): (usize, usize) = (a[2].parse()?, a[3].parse()?);
    let out = cadrl_backend_tch::processor::resize_bicubic_rgb8(img.as_raw(), w as usize, h as usize, ow, oh);
    std::fs::write(&a[4], out)?;
    Ok(())
}
