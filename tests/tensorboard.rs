//! The TensorBoard writer, read back by the real `tensorboard` pip package.
//!
//! Each test writes event files with [`SummaryWriter`], then runs `READER` under
//! `$CADRL_TORCH_PYTHON` (tensorboard 2.21, pillow): `EventAccumulator` with no size
//! limits loads each directory, PNGs are decoded with PIL, text tensors go through the
//! text plugin's own markdown rendering; the result comes back as JSON and is compared
//! exactly here (scalars by their `f32` bits, images byte for byte).

use std::path::{Path, PathBuf};
use std::process::Command;

use cadrl::tensorboard::SummaryWriter;
use serde_json::Value;

const READER: &str = r#"
import io, json, struct, sys
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.plugins.text import text_plugin
from tensorboard.util import tensor_util
from PIL import Image

def f32_bits(v):
    b = struct.pack("<f", v)
    assert struct.unpack("<f", b)[0] == v, f"{v!r} is not an f32"
    return struct.unpack("<I", b)[0]

out = []
for d in sys.argv[1:]:
    acc = ea.EventAccumulator(d, size_guidance={k: 0 for k in ea.DEFAULT_SIZE_GUIDANCE})
    acc.Reload()
    tags = acc.Tags()
    res = {"file_version": acc.file_version, "scalars": {}, "images": {}, "text": {}}
    for t in tags["scalars"]:
        res["scalars"][t] = [[e.step, f32_bits(e.value)] for e in acc.Scalars(t)]
    for t in tags["images"]:
        rows = []
        for e in acc.Images(t):
            im = Image.open(io.BytesIO(e.encoded_image_string))
            im.load()
            rows.append({"step": e.step, "width": e.width, "height": e.height,
                         "format": im.format, "mode": im.mode, "size": list(im.size),
                         "hex": im.tobytes().hex()})
        res["images"][t] = rows
    try:
        res["text_tags"] = sorted(acc.PluginTagToContent("text"))
    except KeyError:  # no text in this directory
        res["text_tags"] = []
    for t in tags["tensors"]:
        assert acc.SummaryMetadata(t).plugin_data.plugin_name == "text", t
        rows = []
        for e in acc.Tensors(t):
            arr = tensor_util.make_ndarray(e.tensor_proto)
            rows.append({"step": e.step, "dtype": e.tensor_proto.dtype, "shape": list(arr.shape),
                         "text": arr.item().decode("utf-8"),
                         "html": text_plugin.text_array_to_html(arr, enable_markdown=True)})
        res["text"][t] = rows
    out.append(res)
print(json.dumps(out))
"#;

fn python() -> String {
    std::env::var("CADRL_TORCH_PYTHON").unwrap_or_else(|_| {
        panic!(
            "CADRL_TORCH_PYTHON is unset: these tests read the event files with the real \
             tensorboard pip package. Run `source <(bash scripts/bootstrap.sh --env)` first, or \
             point CADRL_TORCH_PYTHON at a Python with tensorboard and pillow."
        )
    })
}

/// What TensorBoard reads from each directory, in order.
fn read_back(dirs: &[&Path]) -> Vec<Value> {
    let out = Command::new(python())
        .arg("-c")
        .arg(READER)
        .args(dirs)
        .output()
        .expect("running $CADRL_TORCH_PYTHON");
    assert!(out.status.success(), "tensorboard reader failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("reader JSON");
    v.as_array().expect("a list").clone()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cadrl-tb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn event_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).expect("read dir").map(|e| e.expect("dir entry").path()).collect();
    v.sort();
    v
}

/// `[[step, f32 bits], ...]` as TensorBoard reports one scalar tag.
fn scalar_rows(res: &Value, tag: &str) -> Vec<(u64, u32)> {
    res["scalars"][tag]
        .as_array()
        .unwrap_or_else(|| panic!("no scalar tag {tag:?} in {}", res["scalars"]))
        .iter()
        .map(|r| (r[0].as_u64().expect("step"), r[1].as_u64().expect("bits") as u32))
        .collect()
}

fn expected(rows: &[(u64, f64)]) -> Vec<(u64, u32)> {
    rows.iter().map(|&(s, v)| (s, (v as f32).to_bits())).collect()
}

/// 40 wide, 20 high; each quadrant its own colour, plus one marked pixel.
fn quadrants() -> (u32, u32, Vec<u8>) {
    let (w, h) = (40u32, 20u32);
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let c = match (x < w / 2, y < h / 2) {
                (true, true) => [255, 0, 0],
                (false, true) => [0, 255, 0],
                (true, false) => [0, 0, 255],
                (false, false) => [255, 255, 0],
            };
            let c = if (x, y) == (37, 2) { [1, 2, 3] } else { c };
            rgb.extend_from_slice(&c);
        }
    }
    (w, h, rgb)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn scalars_images_and_text_read_back_exactly() {
    let dir = tmp("all");
    let mut w = SummaryWriter::create(&dir).expect("create");
    assert!(w.path().starts_with(&dir));
    let name = w.path().file_name().and_then(|n| n.to_str()).expect("name").to_string();
    assert!(name.starts_with("events.out.tfevents."), "{name}");
    assert_eq!(name.split('.').count(), 7, "{name}");

    let loss = [(0, 2.5), (1, 0.1), (2, -1e-8), (10, 12345.678), (1000, f64::from(f32::MAX))];
    let margins = [(0, 0.0), (3, -0.75), (7, 3.0e5)];
    for &(s, v) in &loss {
        w.scalar("loss", s, v).expect("scalar");
    }
    for &(s, v) in &margins {
        w.scalars(s, &[("rewards/margins", v), ("rewards/chosen", v + 1.0)]).expect("scalars");
    }
    let (iw, ih, rgb) = quadrants();
    w.image_rgb("samples/render", 5, iw, ih, &rgb).expect("image");
    let tiny: Vec<u8> = (0..3 * 7 * 3).map(|i| (i * 11 % 256) as u8).collect();
    w.image_rgb("samples/render", 9, 3, 7, &tiny).expect("tiny image");
    let recipe = "# Recipe\n\n```toml\nlr = 1e-4\n```\n\nØ 12 mm — ok";
    let program = "```python\nimport cadquery as cq\nr = cq.Workplane('XY').box(1, 2, 3)\n```";
    w.text("recipe", 0, recipe).expect("text");
    w.text("samples/program", 4, program).expect("text");
    // Flushed but still open: what a live TensorBoard sees.
    w.flush().expect("flush");

    let res = read_back(&[&dir]);
    let r = &res[0];
    assert_eq!(r["file_version"], 2.0);
    assert_eq!(scalar_rows(r, "loss"), expected(&loss));
    assert_eq!(scalar_rows(r, "rewards/margins"), expected(&margins));
    let chosen: Vec<(u64, f64)> = margins.iter().map(|&(s, v)| (s, v + 1.0)).collect();
    assert_eq!(scalar_rows(r, "rewards/chosen"), expected(&chosen));

    let imgs = r["images"]["samples/render"].as_array().expect("image tag");
    assert_eq!(imgs.len(), 2);
    for (img, (step, w_, h_, bytes)) in imgs.iter().zip([(5, iw, ih, &rgb), (9, 3, 7, &tiny)]) {
        assert_eq!(img["step"], step);
        assert_eq!(img["width"], w_, "width field");
        assert_eq!(img["height"], h_, "height field");
        assert_eq!(img["format"], "PNG");
        assert_eq!(img["mode"], "RGB");
        assert_eq!(img["size"], serde_json::json!([w_, h_]), "decoded PNG size");
        assert_eq!(img["hex"].as_str(), Some(hex(bytes).as_str()), "pixels at step {step}");
    }
    // Spot checks a transposed image would fail: top-right green, bottom-left blue.
    let px = |x: usize, y: usize| {
        let s = imgs[0]["hex"].as_str().expect("hex");
        let i = (y * iw as usize + x) * 6;
        s[i..i + 6].to_string()
    };
    assert_eq!(px(30, 5), "00ff00");
    assert_eq!(px(5, 15), "0000ff");
    assert_eq!(px(37, 2), "010203");

    assert_eq!(r["text_tags"], serde_json::json!(["recipe", "samples/program"]));
    for (tag, step, md) in [("recipe", 0, recipe), ("samples/program", 4, program)] {
        let rows = r["text"][tag].as_array().expect("text tag");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["step"], step);
        assert_eq!(rows[0]["dtype"], 7, "DT_STRING");
        assert_eq!(rows[0]["shape"], serde_json::json!([]));
        assert_eq!(rows[0]["text"], md);
    }
    let html = r["text"]["samples/program"][0]["html"].as_str().expect("html");
    assert!(html.contains("<pre><code"), "code block not rendered: {html}");
    assert!(html.contains("import cadquery as cq"), "{html}");
    let html = r["text"]["recipe"][0]["html"].as_str().expect("html");
    assert!(html.contains("<h1>Recipe</h1>") && html.contains("Ø 12 mm — ok"), "{html}");
    drop(w);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resumed_run_adds_a_file_and_tensorboard_reads_both() {
    let dir = tmp("resume");
    let first = {
        let mut w = SummaryWriter::create(&dir).expect("create");
        for s in 0..3 {
            w.scalar("loss", s, s as f64 * 0.5).expect("scalar");
        }
        w.path().to_path_buf()
        // dropped without flush(): Drop flushes
    };
    let len = std::fs::metadata(&first).expect("first file").len();
    let mut w = SummaryWriter::create(&dir).expect("create again");
    assert_ne!(w.path(), first);
    for s in 3..6 {
        w.scalar("loss", s, s as f64 * 0.5).expect("scalar");
    }
    drop(w);
    assert_eq!(std::fs::metadata(&first).expect("first file").len(), len, "first file changed");
    assert_eq!(event_files(&dir).len(), 2);

    let res = read_back(&[&dir]);
    let want: Vec<(u64, f64)> = (0..6).map(|s| (s, s as f64 * 0.5)).collect();
    assert_eq!(scalar_rows(&res[0], "loss"), expected(&want));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_killed_run_keeps_the_records_before_a_broken_tail() {
    let write = |name: &str| {
        let dir = tmp(name);
        let mut w = SummaryWriter::create(&dir).expect("create");
        for s in 0..10 {
            w.scalar("loss", s, s as f64).expect("scalar");
        }
        let path = w.path().to_path_buf();
        drop(w);
        (dir, path)
    };
    let append = |path: &Path, bytes: &[u8]| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(path).expect("open");
        f.write_all(bytes).expect("append");
    };
    // Killed in the middle of the last record.
    let (cut, p) = write("cut");
    let len = std::fs::metadata(&p).expect("len").len();
    std::fs::OpenOptions::new().write(true).open(&p).expect("open").set_len(len - 7).expect("cut");
    // Killed after the first bytes of a next record's header.
    let (partial, p) = write("partial");
    append(&p, &[42, 0, 0, 0, 0]);
    // A whole header whose length and CRC disagree, and a short body.
    let (garbage, p) = write("garbage");
    append(&p, &[200, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9]);

    let res = read_back(&[&cut, &partial, &garbage]);
    let all: Vec<(u64, f64)> = (0..10).map(|s| (s, s as f64)).collect();
    assert_eq!(scalar_rows(&res[0], "loss"), expected(&all[..9]), "cut");
    assert_eq!(scalar_rows(&res[1], "loss"), expected(&all), "partial");
    assert_eq!(scalar_rows(&res[2], "loss"), expected(&all), "garbage");
    for d in [cut, partial, garbage] {
        let _ = std::fs::remove_dir_all(&d);
    }
}

#[test]
fn bad_input_is_refused_and_buffers_flush_by_count() {
    let dir = tmp("bad");
    let mut w = SummaryWriter::create(&dir).expect("create");
    let e = w.image_rgb("img", 0, 40, 20, &[0; 40 * 20]).expect_err("short buffer");
    assert!(format!("{e:#}").contains("2400 bytes, got 800"), "{e:#}");
    assert!(w.image_rgb("img", 0, 0, 20, &[]).is_err());
    assert!(w.scalar("", 0, 1.0).is_err());
    assert!(w.scalar("x", u64::MAX, 1.0).is_err());

    let path = w.path().to_path_buf();
    let size = || std::fs::metadata(&path).expect("len").len();
    let header = size();
    assert!(header > 0, "the file_version record is flushed at once");
    w.scalar("x", 1, 1.0).expect("scalar");
    assert_eq!(size(), header, "one record stays buffered");
    for s in 2..=cadrl::tensorboard::FLUSH_EVERY_RECORDS as u64 {
        w.scalar("x", s, 1.0).expect("scalar");
    }
    assert!(size() > header, "flushed after FLUSH_EVERY_RECORDS records");
    drop(w);
    let _ = std::fs::remove_dir_all(&dir);
}
