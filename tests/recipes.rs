//! Recipes: every shipped recipe checks; a broken one reports all its errors at once,
//! each with its key and line; overrides address sections, stage kinds and positions.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cadrl::data::source::{OnError, SourceKind, Subset};
use cadrl::recipe::{
    self, BackendKind, DType, DeviceSpec, DpoLossKind, DpoReference, Finetune, IouMode, MonitorMetric,
    PairStrategy, Stage,
};
use cadrl_rewards::executor::ExecutorKind;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shipped() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("recipes"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_shipped_recipe_checks_and_opens_with_its_command() {
    let all = shipped();
    for want in ["tiny.toml", "dpo_iou.toml", "sft_lora.toml"] {
        assert!(all.iter().any(|p| p.ends_with(want)), "recipes/{want} is missing");
    }
    for p in &all {
        let r = recipe::load(p, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(!r.stage.is_empty());
        let text = std::fs::read_to_string(p).unwrap();
        let name = p.file_name().unwrap().to_str().unwrap();
        assert!(
            text.contains(&format!("cadrl recipe run recipes/{name}")),
            "{name} must open with its run command"
        );
        assert!(text.contains("# Override:"), "{name} must show an override example");
        // the resolved recipe is itself a valid recipe that resolves to the same thing
        let again = recipe::resolve(&r.to_toml(), &mut Default::default()).unwrap();
        assert_eq!(again, r, "{name}: resolved form does not round-trip");
    }
}

#[test]
fn the_cli_checks_recipes() {
    let out = Command::new(env!("CARGO_BIN_EXE_cadrl"))
        .args(["recipe", "check", "recipes/tiny.toml", "sft.steps=3"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let resolved = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(resolved.contains("steps = 3"), "{resolved}");
    // what it prints (the form a run saves as recipe.resolved.toml) checks too, unchanged
    let dir = std::env::temp_dir().join(format!("cadrl-recipe-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("resolved.toml");
    std::fs::write(&p, &resolved).unwrap();
    let again = Command::new(env!("CARGO_BIN_EXE_cadrl")).args(["recipe", "check"]).arg(&p).output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(String::from_utf8_lossy(&again.stdout), resolved);
    std::fs::remove_dir_all(&dir).ok();
}

/// Every closed-set key at a value other than its default.
const TYPED: &str = r#"
[run]
name = "typed"

[model]
path = "some/model"
device = "cuda"
dtype = "bf16"

[lora]
rank = 4

[data]
source = "gencad"
path = "data/gencad"
split = "validation"
subset = "random:5"
on_error = "fail"

[eval_data]
source = "jsonl"
path = "data/eval.jsonl"
subset = "first:3"

[executor]
kind = "auto"
var = "result"

[[reward]]
kind = "iou"
weight = 2
mode = "bbox"

[[stage]]
kind = "sft"
monitor_iou_mode = "inertia"
monitor_metric = "vsr"

[[stage]]
kind = "sample"
pairs = "vs-greedy"

[[stage]]
kind = "dpo"
loss = "ipo"
reference = "base"

[[stage]]
kind = "eval"
iou_mode = "bbox"
"#;

/// Closed sets are read once into their enums, and the resolved recipe (written from
/// them) reads back to the same typed recipe; `cuda` and `random:5` come back in full.
#[test]
fn closed_sets_are_typed_and_the_resolved_recipe_round_trips() {
    let r = recipe::resolve(TYPED, &mut Default::default()).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(r.model.device, DeviceSpec::Cuda(0));
    assert_eq!(r.model.dtype, DType::BF16);
    assert_eq!(r.model.finetune, Finetune::Lora);
    let (d, e) = (&r.data.spec, &r.eval_data.spec);
    assert_eq!((d.source, e.source), (SourceKind::Gencad, SourceKind::Jsonl));
    assert_eq!(d.subset, Subset::Random { n: 5, seed: 0 });
    assert_eq!(e.subset, Subset::First(3));
    assert_eq!((d.on_error, e.on_error), (OnError::Fail, OnError::Skip));
    assert_eq!((d.split.as_str(), e.split.as_str()), ("validation", "test"));
    assert_eq!((d.revision.as_deref(), e.revision.as_deref()), (None, None));
    assert_eq!(e.path.as_deref(), Some(std::path::Path::new("data/eval.jsonl")));
    assert_eq!(r.executor.spec.kind, ExecutorKind::Auto);
    assert_eq!((r.reward[0].kind.as_str(), r.reward[0].weight), ("iou", 2.0));
    let [Stage::Sft(sft), Stage::Sample(sample), Stage::Dpo(dpo), Stage::Eval(eval)] = r.stage.as_slice()
    else {
        panic!("{:?}", r.stage)
    };
    assert_eq!((sft.monitor_iou_mode, sft.monitor_metric), (IouMode::Inertia, MonitorMetric::Vsr));
    assert_eq!(sample.pairs, PairStrategy::VsGreedy);
    assert_eq!((dpo.loss, dpo.reference), (DpoLossKind::Ipo, DpoReference::Base));
    assert_eq!(eval.iou_mode, IouMode::Bbox);

    let text = r.to_toml();
    for line in ["device = \"cuda:0\"", "dtype = \"bf16\"", "subset = \"random:5:0\"", "loss = \"ipo\""] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    let again = recipe::resolve(&text, &mut Default::default()).unwrap_or_else(|e| panic!("{e:#?}\n{text}"));
    assert_eq!(again, r);
    assert_eq!(again.to_toml(), text, "the resolved form is a fixed point");

    // a hub revision is kept and written back
    let pinned = TYPED.replace("on_error = \"fail\"\n", "on_error = \"fail\"\nrevision = \"refs/pr/1\"\n");
    let p = recipe::resolve(&pinned, &mut Default::default()).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(p.data.spec.revision.as_deref(), Some("refs/pr/1"));
    let again = recipe::resolve(&p.to_toml(), &mut Default::default()).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(again, p);

    // the defaults of the other side, and full fine-tuning, round-trip too
    let full = TYPED
        .replace("[lora]\nrank = 4\n", "")
        .replace("dtype = \"bf16\"", "dtype = \"f16\"\nfinetune = \"full\"\ndevice = \"cuda:1\"")
        .replace("device = \"cuda\"\n", "")
        .replace("reference = \"base\"", "reference = \"start\"");
    let r = recipe::resolve(&full, &mut Default::default()).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(
        (r.model.finetune, r.model.device, r.model.dtype),
        (Finetune::Full, DeviceSpec::Cuda(1), DType::F16)
    );
    assert!(r.lora.is_none());
    assert_eq!(recipe::resolve(&r.to_toml(), &mut Default::default()).unwrap(), r);
}

/// A bad value of a typed key names its key and line, and what it may be; overrides too.
#[test]
fn bad_typed_values_name_key_line_and_the_choices() {
    let bad = TYPED
        .replace("device = \"cuda\"", "device = \"gpu\"")
        .replace("subset = \"random:5\"", "subset = \"some\"")
        .replace("kind = \"auto\"", "kind = \"wasm\"")
        .replace("loss = \"ipo\"", "loss = 1");
    let mut ov = cadrl::recipe::fields::parse_overrides(&["eval.iou_mode=sideways".into()]).unwrap();
    let e = recipe::resolve(&bad, &mut ov).unwrap_err();
    let all = e.join("\n");
    for want in [
        "[model].device (line 7): `gpu` is not cpu, cuda or cuda:N",
        "[data].subset (line 17): subset `some`: expected all, hundred, first:N, random:N or random:N:SEED",
        "[executor].kind (line 26): `wasm` is not one of native, occt, auto",
        "stage 2 (dpo).loss (line 45): expected a string, got an integer",
        "override `eval.iou_mode=sideways`: `sideways` is not one of in-place, bbox, inertia",
    ] {
        assert!(e.iter().any(|m| m == want), "no `{want}` in\n{all}");
    }
}

#[test]
fn a_merger_rate_needs_full_fine_tuning() {
    let lora = root().join("recipes/sft_lora.toml");
    let e = recipe::load(&lora, &["sft.merger_lr_scale=0.5".into()]).unwrap_err();
    assert!(
        e.errors.iter().any(|m| m.contains("merger_lr_scale") && m.contains("full fine-tuning")),
        "{:?}",
        e.errors
    );
    // the default follows the tower's rate, and full fine-tuning takes its own
    recipe::load(&lora, &[]).unwrap();
    recipe::load(
        &root().join("recipes/tiny.toml"),
        &["sft.vision_lr_scale=0".into(), "sft.merger_lr_scale=1".into()],
    )
    .unwrap();
}

/// A vision stage trains the tower: bad target names and a LoRA recipe without adapters
/// on the tower are errors naming the stage; the shipped tiny recipe's stage resolves.
#[test]
fn vision_stage_settings_are_checked() {
    let tiny = root().join("recipes/tiny.toml");
    let r = recipe::load(&tiny, &[]).unwrap();
    let Some(recipe::Stage::Vision(v)) = r.stage.get(1) else { panic!("stage 1 is the vision stage") };
    assert_eq!(v.targets.len(), 4);
    let e = recipe::load(&tiny, &["vision.targets=[\"proportions\", \"colour\", \"proportions\"]".into()])
        .unwrap_err();
    let all = e.errors.join("\n");
    assert!(all.contains("unknown target `colour`") && all.contains("listed twice"), "{all}");
    let text = std::fs::read_to_string(root().join("recipes/sft_lora.toml")).unwrap();
    let with_vision = text.replacen(
        "[[stage]]\nkind = \"sft\"",
        "[[stage]]\nkind = \"vision\"\n\n[[stage]]\nkind = \"sft\"",
        1,
    );
    assert_ne!(with_vision, text, "sft_lora.toml has an sft stage");
    let dir = std::env::temp_dir().join(format!("cadrl-recipe-vision-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("lora_vision.toml");
    std::fs::write(&p, &with_vision).unwrap();
    let e = recipe::load(&p, &[]).unwrap_err();
    assert!(
        e.errors.iter().any(|m| m.contains("(vision)") && m.contains("[lora].vision = true")),
        "{:?}",
        e.errors
    );
    recipe::load(&p, &["lora.vision=true".into()]).unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

const BROKEN: &str = r#"
[run]
name = "x"
seeed = 3

[model]
path = "some/model"
dtype = "f64"

[lora]
rank = 0

[[reward]]
kind = "iou"
mode = "sideways"

[[reward]]
kind = "nonsense"

[[stage]]
kind = "sft"
steps = 0
lr = "fast"

[[stage]]
kind = "dpo"
loss = "squared"
beta = -1.0

[[stage]]
kind = "evaluate"

[data.synth]
arcs_prob = 0.1
"#;

#[test]
fn a_broken_recipe_reports_every_error_with_key_and_line() {
    let dir = std::env::temp_dir().join(format!("cadrl-recipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("broken.toml");
    std::fs::write(&p, BROKEN).unwrap();
    let e = recipe::load(&p, &["dpo.betta=1".into(), "nowhere.x=1".into()]).unwrap_err();
    let all = e.errors.join("\n");
    for (needle, line) in [
        ("[run].seeed", Some(4)),
        ("[model].dtype", Some(8)),
        ("[lora].rank", Some(11)),
        ("[[reward]] #1", Some(13)),
        ("unknown reward `nonsense`", Some(17)),
        ("stage 0 (sft).steps", Some(22)),
        ("stage 0 (sft).lr", Some(23)),
        ("stage 1 (dpo).loss", Some(27)),
        ("stage 1 (dpo).beta", Some(28)),
        ("unknown kind `evaluate`", Some(30)),
        ("unknown field `arcs_prob`", None),
        ("needs a `sample` stage before it", None),
        ("override `dpo.betta=1`", None),
        ("override `nowhere.x=1`", None),
    ] {
        let hit = e
            .errors
            .iter()
            .find(|m| m.contains(needle))
            .unwrap_or_else(|| panic!("no error about {needle}:\n{all}"));
        if let Some(l) = line {
            assert!(hit.contains(&format!("line {l}")), "{hit} should name line {l}");
        }
    }
    assert!(e.errors.len() >= 14, "{all}");
    eprintln!("{all}");
    // a TOML syntax error is reported with its line, not a panic
    std::fs::write(&p, "[run]\nname = \"x\"\nseed = = 1\n").unwrap();
    let e = recipe::load(&p, &[]).unwrap_err();
    assert!(e.errors[0].contains("line 3"), "{:?}", e.errors);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn overrides_reach_every_stage_of_a_kind_or_one_by_position() {
    let p = root().join("recipes/tiny.toml");
    let r =
        recipe::load(&p, &["eval.limit=3".into(), "stage.3.images=1".into(), "run.seed=9".into()]).unwrap();
    assert_eq!(r.run.seed, 9);
    let evals: Vec<(usize, usize)> = r
        .stage
        .iter()
        .filter_map(|s| if let Stage::Eval(e) = s { Some((e.limit, e.images)) } else { None })
        .collect();
    assert!(evals.len() >= 2);
    assert!(evals.iter().all(|&(l, _)| l == 3), "{evals:?}");
    assert_eq!(evals[0].1, 1, "stage.3 is the first eval");
    assert_ne!(evals[1].1, 1);
    assert!(!Path::new(&r.run.log_dir).as_os_str().is_empty());
}

/// The `rl` stage: its closed sets are typed, its knobs checked (a misspelt or
/// out-of-range one is an error naming it), and it cannot follow a random model.
#[test]
fn rl_stage_knobs_are_typed_and_checked() {
    let grpo = root().join("recipes/grpo_iou.toml");
    let r = recipe::load(&grpo, &[]).unwrap();
    let rl = r.stage.iter().find_map(|s| if let Stage::Rl(x) = s { Some(x.clone()) } else { None }).unwrap();
    assert_eq!(rl.loss_type, cadrl_backend::GrpoLossType::DrGrpo);
    assert_eq!(rl.scale_rewards, recipe::ScaleRewards::None);
    assert_eq!((rl.num_generations, rl.top_n, rl.epsilon, rl.beta), (16, 4, 0.1, 0.0));
    let e = recipe::load(
        &grpo,
        &[
            "rl.num_generaitons=8".into(),
            "rl.top_n=20".into(),
            "rl.loss_type=ppo".into(),
            "rl.scale_rewards=sometimes".into(),
            "rl.epsilon=1.5".into(),
            "rl.beta=-0.1".into(),
            "rl.micro_batch=0".into(),
        ],
    )
    .unwrap_err();
    let all = e.errors.join("\n");
    for want in [
        "num_generaitons",
        "top_n",
        "`ppo` is not one of grpo, bnpo, dr_grpo, dapo",
        "`sometimes` is not one of group, batch, none",
        "epsilon",
        "beta",
        "micro_batch",
    ] {
        assert!(e.errors.iter().any(|m| m.contains(want)), "no `{want}` in\n{all}");
    }
    // clip-higher defaults to epsilon
    let text = std::fs::read_to_string(&grpo).unwrap();
    let text: String =
        text.lines().filter(|l| !l.starts_with("epsilon_high")).map(|l| format!("{l}\n")).collect();
    let mut ov = cadrl::recipe::fields::parse_overrides(&["rl.epsilon=0.3".into()]).unwrap();
    let r = recipe::resolve(&text, &mut ov).unwrap();
    assert!(r.stage.iter().any(|s| matches!(s, Stage::Rl(x) if x.epsilon_high == 0.3)));
    // straight after `init`, with no `sft` between, is refused
    let tiny = std::fs::read_to_string(root().join("recipes/tiny.toml")).unwrap();
    let at = tiny.find("[[stage]]\nkind = \"vision\"").unwrap();
    let bad = format!("{}[[stage]]\nkind = \"rl\"\nsteps = 2\n", &tiny[..at]);
    let e = recipe::resolve(&bad, &mut Default::default()).unwrap_err();
    assert!(e.iter().any(|m| m.contains("(rl)") && m.contains("needs an `sft` stage")), "{}", e.join("\n"));
    // beta > 0 with the adapters-off reference needs adapters
    let tiny_rl = root().join("recipes/tiny_rl.toml");
    let e = recipe::load(&tiny_rl, &["rl.beta=0.04".into(), "rl.reference=base".into()]).unwrap_err();
    assert!(e.errors.iter().any(|m| m.contains("reference = \"base\"")), "{}", e.errors.join("\n"));
}

/// `[model] backend` is read once into `BackendKind`; `transformers` only samples and
/// scores, so `recipe check` refuses each training stage of such a recipe by name (all of
/// them at once), keeps sample and eval, and a bad name lists the backends with its line.
#[test]
fn a_transformers_recipe_has_no_training_stage() {
    let hf = TYPED.replace("dtype = \"bf16\"", "dtype = \"bf16\"\nbackend = \"transformers\"");
    let e = recipe::resolve(&hf, &mut Default::default()).unwrap_err();
    let all = e.join("\n");
    for (i, kind) in [(0, "sft"), (2, "dpo")] {
        let want = format!(
            "stage {i} ({kind}) trains the model, but [model].backend = \"transformers\" only samples and scores"
        );
        assert!(e.iter().any(|m| m.starts_with(&want)), "no `{want}` in\n{all}");
    }
    assert!(!all.contains("(sample)") && !all.contains("(eval)"), "{all}");
    assert_eq!(e.len(), 2, "{all}");

    // the command line: `recipe check` fails and names the stage
    let dir = std::env::temp_dir().join(format!("cadrl-recipe-hf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("hf.toml");
    std::fs::write(&p, &hf).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cadrl")).args(["recipe", "check"]).arg(&p).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stage 0 (sft) trains the model") && err.contains("stage 2 (dpo)"), "{err}");
    // the same through an override, and for init and vision stages too
    let tiny = root().join("recipes/tiny.toml");
    let e = recipe::load(&tiny, &["model.backend=transformers".into()]).unwrap_err();
    for kind in ["init", "vision", "sft", "dpo"] {
        assert!(e.errors.iter().any(|m| m.contains(&format!("({kind}) trains the model"))), "{kind}: {e}");
    }

    // sample and eval only: accepted, typed, and round-trips
    let ok = hf
        .replace("[[stage]]\nkind = \"sft\"\nmonitor_iou_mode = \"inertia\"\nmonitor_metric = \"vsr\"\n", "")
        .replace("[[stage]]\nkind = \"dpo\"\nloss = \"ipo\"\nreference = \"base\"\n", "");
    let r = recipe::resolve(&ok, &mut Default::default()).unwrap_or_else(|e| panic!("{e:#?}\n{ok}"));
    assert_eq!(r.model.backend, BackendKind::Transformers);
    assert_eq!(r.stage.iter().map(|s| s.kind()).collect::<Vec<_>>(), ["sample", "eval"]);
    let text = r.to_toml();
    assert!(text.contains("backend = \"transformers\""), "{text}");
    assert_eq!(recipe::resolve(&text, &mut Default::default()).unwrap(), r);
    // the default is tch, written out
    let r = recipe::resolve(TYPED, &mut Default::default()).unwrap();
    assert_eq!(r.model.backend, BackendKind::Tch);
    assert!(r.to_toml().contains("backend = \"tch\""));

    // a bad name: key, line and the choices
    let bad = TYPED.replace("dtype = \"bf16\"", "dtype = \"bf16\"\nbackend = \"torch\"");
    let e = recipe::resolve(&bad, &mut Default::default()).unwrap_err();
    let want = "[model].backend (line 9): `torch` is not one of tch, transformers";
    assert!(e.iter().any(|m| m == want), "no `{want}` in\n{}", e.join("\n"));
    std::fs::remove_dir_all(&dir).ok();
}
