//! Debug helper: resize an image with our torchvision- or Pillow-exact bicubic and write
//! the raw RGB bytes. Usage: resize_check IMAGE WIDTH HEIGHT OUT [torchvision|pil]
use cadrl_backend_tch::resize::{pil_bicubic_rgb8, torchvision_bicubic_rgb8};

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 5 {
        anyhow::bail!("usage: resize_check IMAGE WIDTH HEIGHT OUT [torchvision|pil]");
    }
    let img = image::open(&a[1])?.to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (ow, oh): (usize, usize) = (a[2].parse()?, a[3].parse()?);
    let out = match a.get(5).map(String::as_str) {
        None | Some("torchvision") => torchvision_bicubic_rgb8(img.as_raw(), w, h, ow, oh),
        Some("pil") => pil_bicubic_rgb8(img.as_raw(), w, h, ow, oh),
        Some(x) => anyhow::bail!("unknown backend `{x}` (torchvision, pil)"),
    };
    std::fs::write(&a[4], out)?;
    Ok(())
}
