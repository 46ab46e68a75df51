//! The GenCAD-Code parquet loader against shards written by pyarrow in the exact
//! Hugging Face schema (snappy and zstd, corrupt rows, a shard missing a column), the
//! HF cache layout, and `cadrl data synth --format parquet` read back by pyarrow.
#![allow(clippy::unwrap_used, clippy::err_expect)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use cadrl::data::GENCAD_PROMPT;
use cadrl::data::hub::{GENCAD_REPO, hub_shards_with};
use cadrl::data::source::{DataSpec, OnError, SourceKind, Subset, open};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/gencad-dev");

fn python() -> String {
    std::env::var("CADRL_TORCH_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn py(script: &str, args: &[&Path]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run python (CADRL_TORCH_PYTHON with pyarrow)");
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cadrl-parquet-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

const HF_SCHEMA: &str = r#"
import pyarrow as pa
SCHEMA = pa.schema([
    ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
    ("deepcad_id", pa.string()), ("cadquery", pa.string()), ("token_count", pa.int64()),
    ("prompt", pa.string()), ("hundred_subset", pa.bool_())])
"#;

/// pyarrow writes, from the 17 fixtures:
/// - data/train-00000-of-00003.parquet (snappy, row groups of 4): fixtures 0..9; row 4
///   has undecodable PNG bytes, row 6 a null `cadquery`, row 1 its own prompt, row 2 a
///   null prompt; hundred_subset at rows 0, 3, 5.
/// - data/train-00001-of-00003.parquet (zstd, row groups of 3): fixtures 9..17; row 2's
///   `cadquery` is not UTF-8; hundred_subset at rows 1, 7.
/// - data/train-00002-of-00003.parquet: two rows without a `cadquery` column.
/// - data/test-00000-of-00001.parquet: fixtures 0..2.
const MAKE: &str = r#"
import json, sys, pyarrow as pa, pyarrow.parquet as pq
fx, out = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(fx + "/cases.jsonl") if l.strip()]
png = lambda r: open(fx + "/" + r["image"], "rb").read()
def table(rs, images=None, codes=None, prompts=None, hundred=(), drop=None):
    n = len(rs)
    images = images or {}
    codes = codes or {}
    prompts = prompts or {}
    img = pa.array([{"bytes": images.get(i, png(r)), "path": r["id"] + ".png"} for i, r in enumerate(rs)], SCHEMA.field("image").type)
    code = [codes.get(i, r["code"].encode()) for i, r in enumerate(rs)]
    code = pa.array(code, pa.binary()).view(pa.string())
    cols = [img, pa.array([r["id"] for r in rs], pa.string()), code,
            pa.array([len(r["code"]) // 4 for r in rs], pa.int64()),
            pa.array([prompts.get(i, r["prompt"]) for i, r in enumerate(rs)], pa.string()),
            pa.array([i in hundred for i in range(n)], pa.bool_())]
    t = pa.Table.from_arrays(cols, schema=SCHEMA)
    return t.drop_columns([drop]) if drop else t
pq.write_table(table(rows[0:9], images={4: b"\x89PNG\r\n\x1a\n not really"}, codes={6: None},
                     prompts={1: "custom prompt", 2: None}, hundred=(0, 3, 5)),
               out + "/data/train-00000-of-00003.parquet", compression="snappy", row_group_size=4)
pq.write_table(table(rows[9:17], codes={2: b"import cadquery as cq\n\xff\xfe"}, hundred=(1, 7)),
               out + "/data/train-00001-of-00003.parquet", compression="zstd", row_group_size=3)
pq.write_table(table(rows[0:2], drop="cadquery"), out + "/data/train-00002-of-00003.parquet")
pq.write_table(table(rows[0:2]), out + "/data/test-00000-of-00001.parquet")
for f in ["train-00000-of-00003", "train-00001-of-00003"]:
    m = pq.ParquetFile(out + "/data/" + f + ".parquet").metadata
    print(f, m.row_group(0).column(0).compression, m.num_row_groups)
"#;

/// The pyarrow-written data set (made once per test binary run).
fn hf_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tmp("hf");
        std::fs::create_dir_all(d.join("data")).expect("data dir");
        let out = py(&format!("{HF_SCHEMA}{MAKE}"), &[Path::new(FIXTURES), &d]);
        assert!(out.contains("train-00000-of-00003 SNAPPY 3"), "{out}");
        assert!(out.contains("train-00001-of-00003 ZSTD 3"), "{out}");
        d
    })
}

fn fixtures() -> Vec<serde_json::Value> {
    std::fs::read_to_string(Path::new(FIXTURES).join("cases.jsonl"))
        .expect("fixtures")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

fn spec(dir: &Path) -> DataSpec {
    DataSpec { source: SourceKind::Gencad, path: Some(dir.to_path_buf()), ..DataSpec::default() }
}

fn ids(s: &DataSpec) -> Vec<String> {
    open(s).expect("open").map(|r| r.expect("row").id).collect()
}

/// Fixture ids of the rows that load, in file order.
fn good_ids() -> Vec<String> {
    let fx = fixtures();
    (0..17)
        .filter(|i| ![4, 6, 11].contains(i))
        .map(|i| fx[i]["id"].as_str().expect("id").to_string())
        .collect()
}

#[test]
fn reads_hf_shards_in_order_and_skips_corrupt_rows() {
    let dir = hf_dir();
    let fx = fixtures();
    let mut it = open(&spec(dir)).expect("open");
    assert_eq!(it.len_hint(), Some(17), "two readable shards of 9 + 8 rows");
    let rows: Vec<_> = it.by_ref().map(|r| r.expect("skip mode yields no Err")).collect();
    let got: Vec<String> = rows.iter().map(|s| s.id.clone()).collect();
    assert_eq!(got, good_ids());
    for s in &rows {
        let f = fx.iter().find(|f| f["id"] == s.id.as_str()).expect("known id");
        assert_eq!(s.code, f["code"].as_str().expect("code"), "{}", s.id);
        assert_eq!(s.image.dimensions(), (448, 448));
    }
    let want = image::open(Path::new(FIXTURES).join(fx[0]["image"].as_str().expect("image")))
        .expect("png")
        .to_rgb8();
    assert_eq!(rows[0].image, want, "pixels of the parquet image = the fixture PNG");
    assert_eq!(rows[1].prompt, "custom prompt");
    assert_eq!(rows[2].prompt, GENCAD_PROMPT, "a null prompt falls back to GenCAD's");
    let errs: Vec<String> = it.errors().iter().map(|e| e.to_string()).collect();
    assert_eq!(errs.len(), 4, "{errs:#?}");
    let shard = |i: usize| dir.join(format!("data/train-0000{i}-of-00003.parquet")).display().to_string();
    assert!(
        errs[0].starts_with(&format!("{}:0: missing column `cadquery` or `code`", shard(2))),
        "{}",
        errs[0]
    );
    assert!(errs[1].starts_with(&format!("{}:4: image is not a decodable PNG", shard(0))), "{}", errs[1]);
    assert!(errs[2].starts_with(&format!("{}:6: `cadquery` is null", shard(0))), "{}", errs[2]);
    assert!(errs[3].starts_with(&format!("{}:2: `cadquery` is not UTF-8", shard(1))), "{}", errs[3]);
}

#[test]
fn fail_mode_stops_at_the_first_corrupt_row_with_file_and_row() {
    let dir = hf_dir();
    // Without the shard missing a column, the first error is row 4 of shard 0.
    let one = DataSpec {
        path: Some(dir.join("data/train-00000-of-00003.parquet")),
        on_error: OnError::Fail,
        ..spec(dir)
    };
    let items: Vec<_> = open(&one).expect("open").collect();
    assert_eq!(items.len(), 5, "4 rows, then the error, then nothing");
    assert!(items[..4].iter().all(|r| r.is_ok()));
    let e = format!("{:#}", items[4].as_ref().err().expect("error"));
    assert!(e.contains("train-00000-of-00003.parquet:4: image is not a decodable PNG"), "{e}");
    // The whole split: the shard without `cadquery` fails at open.
    let all = DataSpec { on_error: OnError::Fail, ..spec(dir) };
    let e = format!("{:#}", open(&all).err().expect("open fails"));
    assert!(e.contains("train-00002-of-00003.parquet:0: missing column `cadquery`"), "{e}");
}

#[test]
fn shuffles_and_subsets_deterministically() {
    let dir = hf_dir();
    let all = good_ids();
    let seeded = |seed| ids(&DataSpec { shuffle_seed: Some(seed), ..spec(dir) });
    let a = seeded(3);
    assert_eq!(a, seeded(3), "same seed, same order");
    assert_ne!(a, all);
    assert_ne!(a, seeded(4));
    assert_eq!(a.iter().collect::<BTreeSet<_>>(), all.iter().collect::<BTreeSet<_>>(), "a permutation");

    let fx = fixtures();
    let fid = |i: usize| fx[i]["id"].as_str().expect("id").to_string();
    let sub = |s: &str| DataSpec { subset: s.parse::<Subset>().expect("subset"), ..spec(dir) };
    assert_eq!(ids(&sub("hundred")), [0, 3, 5, 10, 16].map(fid));
    assert_eq!(open(&sub("hundred")).expect("open").len_hint(), Some(5));
    assert_eq!(ids(&sub("first:5")), all[..5]);
    assert_eq!(ids(&DataSpec { shuffle_seed: Some(3), ..sub("first:5") }), a[..5]);
    let r = ids(&sub("random:6:9"));
    assert_eq!(r, ids(&sub("random:6:9")));
    assert_ne!(r, ids(&sub("random:6:10")));
    assert!(r.len() <= 6 && r.len() >= 3, "{r:?}");
    let pos: Vec<usize> = r.iter().map(|id| all.iter().position(|x| x == id).expect("good id")).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "random subset in file order: {pos:?}");
    assert_eq!(ids(&sub("random:100")).len(), 14);
    assert!("random:x".parse::<Subset>().is_err());

    let test = DataSpec { split: "test".into(), ..spec(dir) };
    assert_eq!(ids(&test), [0, 1].map(fid));
    let spec_toml: DataSpec = serde_json::from_value(serde_json::json!({
        "source": "gencad", "path": dir, "subset": "first:2", "shuffle_seed": 5, "on_error": "fail"
    }))
    .expect("spec");
    assert_eq!(spec_toml.subset, Subset::First(2));
    assert_eq!(spec_toml.split, "train");
    assert_eq!(spec_toml.repo, GENCAD_REPO);
}

#[test]
fn resolves_the_hf_cache_layout_and_explains_what_to_fetch_offline() {
    let cache = tmp("cache");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let repo = cache.join("datasets--CADCODER--GenCAD-Code");
    std::fs::create_dir_all(repo.join("refs")).expect("refs");
    std::fs::write(repo.join("refs/main"), commit).expect("ref");
    let data = repo.join("snapshots").join(commit).join("data");
    std::fs::create_dir_all(&data).expect("snapshot");
    std::fs::copy(
        hf_dir().join("data/train-00001-of-00003.parquet"),
        data.join("train-00000-of-00001.parquet"),
    )
    .expect("copy");
    std::fs::copy(
        hf_dir().join("data/test-00000-of-00001.parquet"),
        data.join("test-00000-of-00001.parquet"),
    )
    .expect("copy");
    for rev in [None, Some(commit)] {
        let shards = hub_shards_with(&cache, GENCAD_REPO, rev, "train", true).expect("cached");
        assert_eq!(shards, vec![data.join("train-00000-of-00001.parquet")]);
    }
    let e = format!(
        "{:#}",
        hub_shards_with(&cache, GENCAD_REPO, None, "validation", true).err().expect("not cached")
    );
    for want in [
        "split `validation` of dataset `CADCODER/GenCAD-Code` (revision `main`) is not in the Hugging Face cache",
        "HF_HUB_OFFLINE",
        "data/validation-*.parquet",
        "huggingface-cli download CADCODER/GenCAD-Code --repo-type dataset --revision main --include 'data/validation-*.parquet'",
        &repo.display().to_string(),
    ] {
        assert!(e.contains(want), "missing `{want}` in:\n{e}");
    }
    let e = format!(
        "{:#}",
        hub_shards_with(&cache, "Other/Set", Some("v2"), "train", true).err().expect("not cached")
    );
    assert!(e.contains("datasets--Other--Set") && e.contains("--revision v2"), "{e}");
}

#[test]
fn synth_parquet_has_the_exact_hf_schema_and_reads_back() {
    let d = tmp("synth");
    let run = |fmt: &str, out: &Path| {
        let st = Command::new(env!("CARGO_BIN_EXE_cadrl"))
            .args([
                "data",
                "synth",
                "--n",
                "12",
                "--seed",
                "4",
                "--shard-rows",
                "5",
                "--format",
                fmt,
                "--out",
            ])
            .arg(out)
            .status()
            .expect("cadrl");
        assert!(st.success());
    };
    let (pq_dir, js_dir) = (d.join("pq"), d.join("js"));
    run("parquet", &pq_dir);
    run("jsonl", &js_dir);
    let files: Vec<String> = std::fs::read_dir(pq_dir.join("data"))
        .expect("data")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        files,
        ["train-00000-of-00003.parquet", "train-00001-of-00003.parquet", "train-00002-of-00003.parquet"]
    );
    let check = r#"
import json, sys, glob, hashlib, pyarrow.parquet as pq
out = []
for f in sorted(glob.glob(sys.argv[1] + "/data/*.parquet")):
    s = pq.read_schema(f)
    assert s.remove_metadata().equals(SCHEMA), (f, s)
    assert json.loads(s.metadata[b"huggingface"])["info"]["features"]["image"] == {"_type": "Image"}
    for r in pq.read_table(f).to_pylist():
        out.append([r["deepcad_id"], r["cadquery"], r["prompt"], r["hundred_subset"], r["token_count"], r["image"]["path"], r["image"]["bytes"][:8].hex()])
print(json.dumps(out))
"#;
    let got: Vec<serde_json::Value> =
        serde_json::from_str(&py(&format!("{HF_SCHEMA}{check}"), &[&pq_dir])).expect("json");
    assert_eq!(got.len(), 12);
    let ours: Vec<_> = open(&DataSpec::from_path(&pq_dir)).expect("open").map(|r| r.expect("row")).collect();
    let jsonl: Vec<_> = open(&DataSpec::from_path(&js_dir)).expect("open").map(|r| r.expect("row")).collect();
    assert_eq!(ours.len(), 12);
    for ((g, s), j) in got.iter().zip(&ours).zip(&jsonl) {
        assert_eq!(g[0], s.id.as_str());
        assert_eq!(g[1], s.code.as_str());
        assert_eq!(g[2], GENCAD_PROMPT);
        assert_eq!(g[3], true, "the first 100 samples are the hundred subset");
        assert!(g[4].as_i64().expect("tokens") > 0);
        assert!(g[5].is_null());
        assert_eq!(g[6], "89504e470d0a1a0a", "PNG bytes");
        assert_eq!((&s.id, &s.code), (&j.id, &j.code), "parquet and jsonl outputs agree");
        assert_eq!(s.image, j.image);
    }
    let st = Command::new(env!("CARGO_BIN_EXE_cadrl"))
        .args(["data", "stats", "--json"])
        .arg(&pq_dir)
        .output()
        .expect("stats");
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).expect("stats json");
    assert_eq!(v["stats"]["programs"], 12);
}
