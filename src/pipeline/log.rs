//! Logging for a run: TensorBoard (scalars, images, text), `metrics.jsonl` (every
//! scalar, for scripts) and progress bars with ETA on the console.
//!
//! Metric names follow TRL: `train/loss`, `train/lr`, `train/grad_norm`,
//! `train/tokens_per_s`, `rewards/chosen`, `rewards/rejected`, `rewards/margins`,
//! `rewards/accuracies`, `logps/chosen`, `logps/rejected`, plus `reward/<name>/mean|std`,
//! `sample/valid_rate`, `sample/pairs`, `eval/vsr`, `eval/iou_mean`, ... The x axis is
//! the global optimizer step over all training stages.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use crate::tensorboard::SummaryWriter;

/// A run killed while writing `metrics.jsonl` can leave a partial last line: cut it, so
/// that the resumed run appends whole lines only.
fn drop_partial_line(p: &Path) -> Result<()> {
    let Ok(bytes) = std::fs::read(p) else { return Ok(()) };
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return Ok(());
    }
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(p)
        .with_context(|| format!("opening {}", p.display()))?;
    f.set_len(keep as u64).with_context(|| format!("cutting the partial last line of {}", p.display()))
}

/// The run's logger.
pub(crate) struct Logger {
    tb: SummaryWriter,
    jsonl: std::fs::File,
    quiet: bool,
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger").field("tb", &self.tb.path()).finish()
    }
}

impl Logger {
    /// TensorBoard files and `metrics.jsonl` in the run directory (appending on resume).
    pub(crate) fn open(dir: &Path, quiet: bool) -> Result<Logger> {
        let tb = SummaryWriter::create(dir)?;
        let p = dir.join("metrics.jsonl");
        drop_partial_line(&p)?;
        let jsonl = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .with_context(|| format!("opening {}", p.display()))?;
        Ok(Logger { tb, jsonl, quiet })
    }

    /// Scalars at a step, in TensorBoard and `metrics.jsonl`.
    pub(crate) fn scalars(&mut self, step: u64, values: &[(&str, f64)]) -> Result<()> {
        let mut obj = serde_json::Map::new();
        obj.insert("step".into(), step.into());
        for (k, v) in values {
            if v.is_finite() {
                self.tb.scalar(k, step, *v)?;
            }
            obj.insert(
                (*k).to_string(),
                serde_json::Number::from_f64(*v).map_or(serde_json::Value::Null, Into::into),
            );
        }
        // one write per line: a run killed mid-line leaves at most that line partial
        let line = format!("{}\n", serde_json::Value::Object(obj));
        self.jsonl.write_all(line.as_bytes()).context("writing metrics.jsonl")?;
        Ok(())
    }

    pub(crate) fn image(&mut self, tag: &str, step: u64, img: &image::RgbImage) -> Result<()> {
        self.tb.image_rgb(tag, step, img.width(), img.height(), img.as_raw())
    }

    pub(crate) fn text(&mut self, tag: &str, step: u64, markdown: &str) -> Result<()> {
        self.tb.text(tag, step, markdown)
    }

    pub(crate) fn flush(&mut self) -> Result<()> {
        self.tb.flush()?;
        self.jsonl.flush().context("flushing metrics.jsonl")
    }

    /// A progress bar with ETA (hidden when quiet).
    pub(crate) fn bar(&self, len: u64, what: &str) -> ProgressBar {
        if self.quiet {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::new(len);
        pb.set_style(
            ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg} (eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb.set_prefix(what.to_string());
        pb
    }

    /// A line on the console (above any progress bar).
    pub(crate) fn say(&self, msg: &str) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }
}

/// Two images side by side (input left, prediction right) on a white background.
pub(crate) fn side_by_side(a: &image::RgbImage, b: &image::RgbImage) -> image::RgbImage {
    let h = a.height().max(b.height());
    let mut out = image::RgbImage::from_pixel(a.width() + b.width(), h, image::Rgb([255, 255, 255]));
    image::imageops::replace(&mut out, a, 0, 0);
    image::imageops::replace(&mut out, b, i64::from(a.width()), 0);
    out
}
