//! A small TensorBoard event-file writer: scalars, images and markdown text.
//!
//! Why our own: `tensorboard-rs` is unmaintained and swaps width and height in
//! `add_image`; the format is small enough to write by hand. An event file is a
//! sequence of TFRecords (`u64` little-endian length, masked CRC-32C of the length,
//! the bytes, masked CRC-32C of the bytes), each holding one `tensorflow.Event`
//! protobuf, encoded here field by field. The first record carries
//! `file_version = "brain.Event:2"`.
//!
//! What is written, and how TensorBoard reads it:
//! - scalars as `Summary.Value.simple_value` (an `f32`; the format every reader knows);
//! - images as `Summary.Value.image` (PNG, width and height as given);
//! - text as a rank-0 `DT_STRING` tensor with plugin `"text"`, rendered as markdown.
//!
//! Each writer owns a fresh file (`create_new`), so a resumed run adds a file to the same
//! directory and TensorBoard reads them together. Writes are buffered and flushed every
//! [`FLUSH_EVERY_RECORDS`] records, after [`FLUSH_EVERY`] since the last flush, on
//! [`SummaryWriter::flush`] and on drop; a killed run loses at most that tail, and a
//! truncated last record does not stop TensorBoard reading the ones before it.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};

/// Records buffered before a flush to the OS.
pub const FLUSH_EVERY_RECORDS: u32 = 64;
/// Time after which the next record flushes the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// Writes one TensorBoard event file (see the module docs).
pub struct SummaryWriter {
    path: PathBuf,
    out: BufWriter<File>,
    unflushed: u32,
    last_flush: Instant,
}

impl std::fmt::Debug for SummaryWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SummaryWriter").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Distinguishes writers made by one process in the same second.
static FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

impl SummaryWriter {
    /// Creates `dir` if needed and a new
    /// `events.out.tfevents.<secs>.<hostname>.<pid>.<n>` file in it (never overwrites an
    /// existing file; a resumed run appends a new file in the same dir).
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("tensorboard: creating log dir {}", dir.display()))?;
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let host = hostname();
        let pid = std::process::id();
        let (path, file) = loop {
            let n = FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("events.out.tfevents.{secs}.{host}.{pid}.{n}"));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(f) => break (path, f),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("tensorboard: creating {}", path.display()));
                }
            }
        };
        let mut w = SummaryWriter {
            path,
            out: BufWriter::with_capacity(1 << 16, file),
            unflushed: 0,
            last_flush: Instant::now(),
        };
        let mut ev = Vec::with_capacity(32);
        event_header(&mut ev, 0);
        put_bytes(&mut ev, 3, b"brain.Event:2");
        w.record(&ev)?;
        w.flush()?;
        Ok(w)
    }

    /// The event file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One scalar (stored as `f32`, TensorBoard's `simple_value`).
    pub fn scalar(&mut self, tag: &str, step: u64, value: f64) -> Result<()> {
        self.scalars(step, &[(tag, value)])
    }

    /// Several scalars at one step, in one event.
    pub fn scalars(&mut self, step: u64, values: &[(&str, f64)]) -> Result<()> {
        let mut summary = Vec::with_capacity(values.len() * 24);
        for &(tag, value) in values {
            check_tag(tag)?;
            let mut v = Vec::with_capacity(tag.len() + 8);
            put_bytes(&mut v, 1, tag.as_bytes());
            put_key(&mut v, 2, 5);
            v.extend_from_slice(&(value as f32).to_le_bytes());
            put_bytes(&mut summary, 1, &v);
        }
        self.summary(step, &summary)
    }

    /// RGB8 pixels, row-major, `width * height * 3` bytes; encoded as PNG.
    pub fn image_rgb(&mut self, tag: &str, step: u64, width: u32, height: u32, rgb: &[u8]) -> Result<()> {
        check_tag(tag)?;
        ensure!(
            width > 0 && height > 0 && width <= i32::MAX as u32 && height <= i32::MAX as u32,
            "tensorboard image {tag:?}: bad size {width}x{height}"
        );
        let want = width as u64 * height as u64 * 3;
        ensure!(
            rgb.len() as u64 == want,
            "tensorboard image {tag:?}: {width}x{height} RGB needs {want} bytes, got {}",
            rgb.len()
        );
        let mut png = Vec::new();
        image::ImageEncoder::write_image(
            image::codecs::png::PngEncoder::new(&mut png),
            rgb,
            width,
            height,
            image::ExtendedColorType::Rgb8,
        )
        .with_context(|| format!("tensorboard image {tag:?}: PNG encoding"))?;
        let mut img = Vec::with_capacity(png.len() + 16);
        put_varint_field(&mut img, 1, height as u64);
        put_varint_field(&mut img, 2, width as u64);
        put_varint_field(&mut img, 3, 3); // colorspace: RGB
        put_bytes(&mut img, 4, &png);
        let mut v = Vec::with_capacity(img.len() + tag.len() + 8);
        put_bytes(&mut v, 1, tag.as_bytes());
        put_bytes(&mut v, 4, &img);
        let mut summary = Vec::with_capacity(v.len() + 8);
        put_bytes(&mut summary, 1, &v);
        self.summary(step, &summary)
    }

    /// Markdown text (text plugin), e.g. sample programs in a code block, the resolved
    /// recipe.
    pub fn text(&mut self, tag: &str, step: u64, markdown: &str) -> Result<()> {
        check_tag(tag)?;
        let mut tensor = Vec::with_capacity(markdown.len() + 16);
        put_varint_field(&mut tensor, 1, 7); // dtype: DT_STRING
        put_bytes(&mut tensor, 2, &[]); // tensor_shape: rank 0
        put_bytes(&mut tensor, 8, markdown.as_bytes()); // string_val
        let mut plugin = Vec::with_capacity(8);
        put_bytes(&mut plugin, 1, b"text"); // plugin_name; content: empty (version 0)
        let mut meta = Vec::with_capacity(16);
        put_bytes(&mut meta, 1, &plugin);
        let mut v = Vec::with_capacity(tensor.len() + tag.len() + 24);
        put_bytes(&mut v, 1, tag.as_bytes());
        put_bytes(&mut v, 8, &tensor);
        put_bytes(&mut v, 9, &meta);
        let mut summary = Vec::with_capacity(v.len() + 8);
        put_bytes(&mut summary, 1, &v);
        self.summary(step, &summary)
    }

    /// Pushes buffered records to the OS.
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().with_context(|| format!("tensorboard: flushing {}", self.path.display()))?;
        self.unflushed = 0;
        self.last_flush = Instant::now();
        Ok(())
    }

    fn summary(&mut self, step: u64, summary: &[u8]) -> Result<()> {
        if step > i64::MAX as u64 {
            bail!("tensorboard: step {step} does not fit an int64");
        }
        let mut ev = Vec::with_capacity(summary.len() + 24);
        event_header(&mut ev, step);
        put_bytes(&mut ev, 5, summary);
        self.record(&ev)?;
        self.unflushed += 1;
        if self.unflushed >= FLUSH_EVERY_RECORDS || self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush()?;
        }
        Ok(())
    }

    /// One TFRecord.
    fn record(&mut self, data: &[u8]) -> Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        let mut frame = [0u8; 12];
        frame[..8].copy_from_slice(&len);
        frame[8..].copy_from_slice(&masked_crc32c(&len).to_le_bytes());
        let res = self
            .out
            .write_all(&frame)
            .and_then(|()| self.out.write_all(data))
            .and_then(|()| self.out.write_all(&masked_crc32c(data).to_le_bytes()));
        res.with_context(|| format!("tensorboard: writing {}", self.path.display()))
    }
}

impl Drop for SummaryWriter {
    fn drop(&mut self) {
        // Errors cannot be returned from drop; BufWriter would swallow them too.
        let _ = self.out.flush();
    }
}

fn check_tag(tag: &str) -> Result<()> {
    ensure!(!tag.is_empty(), "tensorboard: empty tag");
    Ok(())
}

fn hostname() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_default();
    let clean: String = raw
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
        .collect();
    if clean.is_empty() { "localhost".to_string() } else { clean }
}

/// `Event.wall_time` (field 1, double) and `Event.step` (field 2, int64).
fn event_header(ev: &mut Vec<u8>, step: u64) {
    let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    put_key(ev, 1, 1);
    ev.extend_from_slice(&wall.to_le_bytes());
    if step != 0 {
        put_varint_field(ev, 2, step);
    }
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_key(buf: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(buf, (u64::from(field) << 3) | u64::from(wire));
}

fn put_varint_field(buf: &mut Vec<u8>, field: u32, v: u64) {
    put_key(buf, field, 0);
    put_varint(buf, v);
}

/// A length-delimited field (string, bytes, sub-message).
fn put_bytes(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(buf, field, 2);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), byte-wise table.
const CRC32C_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0x82F6_3B78 } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

pub(crate) fn crc32c(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC32C_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

/// TFRecord's masking: rotate right by 15 and add a constant.
pub(crate) fn masked_crc32c(data: &[u8]) -> u32 {
    crc32c(data).rotate_right(15).wrapping_add(0xA282_EAD8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_known_vectors() {
        // RFC 3720 B.4 and the usual check value.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn varints() {
        let mut b = Vec::new();
        put_varint(&mut b, 300);
        assert_eq!(b, [0xAC, 0x02]);
        b.clear();
        put_varint(&mut b, i64::MAX as u64);
        assert_eq!(b.len(), 9);
    }
}
