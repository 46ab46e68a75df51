//! Writer for parquet shards in GenCAD-Code's exact Hugging Face schema.
//!
//! Columns, all nullable as `datasets` writes them: `image` struct `{bytes: binary,
//! path: string}` (PNG bytes, null path, as `datasets.Image` stores an in-memory
//! image), `deepcad_id` string, `cadquery` string, `token_count` int64, `prompt`
//! string, `hundred_subset` bool. The file carries the `huggingface` key-value
//! metadata (the features) so `datasets` decodes `image` as an `Image`. Row groups
//! hold [`ROW_GROUP`] rows (what `datasets` uses for image columns), compressed with
//! snappy (pyarrow's default).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

/// Rows per row group.
pub(crate) const ROW_GROUP: usize = 100;

const SCHEMA: &str = "message schema {
  OPTIONAL group image {
    OPTIONAL BYTE_ARRAY bytes;
    OPTIONAL BYTE_ARRAY path (STRING);
  }
  OPTIONAL BYTE_ARRAY deepcad_id (STRING);
  OPTIONAL BYTE_ARRAY cadquery (STRING);
  OPTIONAL INT64 token_count;
  OPTIONAL BYTE_ARRAY prompt (STRING);
  OPTIONAL BOOLEAN hundred_subset;
}";

const HF_FEATURES: &str = r#"{"info": {"features": {"image": {"_type": "Image"}, "deepcad_id": {"dtype": "string", "_type": "Value"}, "cadquery": {"dtype": "string", "_type": "Value"}, "token_count": {"dtype": "int64", "_type": "Value"}, "prompt": {"dtype": "string", "_type": "Value"}, "hundred_subset": {"dtype": "bool", "_type": "Value"}}}}"#;

/// One row of a shard.
#[derive(Clone, Debug)]
pub(crate) struct HfRow {
    pub(crate) png: Vec<u8>,
    pub(crate) deepcad_id: String,
    pub(crate) cadquery: String,
    pub(crate) token_count: i64,
    pub(crate) prompt: String,
    pub(crate) hundred_subset: bool,
}

/// The Hub file name of shard `i` of `n` of `split`: `{split}-00000-of-00002.parquet`.
pub(crate) fn shard_name(split: &str, i: usize, n: usize) -> String {
    format!("{split}-{i:05}-of-{n:05}.parquet")
}

/// Writes one shard, a row group every [`ROW_GROUP`] rows.
pub(crate) struct ShardWriter {
    path: PathBuf,
    w: SerializedFileWriter<File>,
    pending: Vec<HfRow>,
    rows: usize,
}

impl std::fmt::Debug for ShardWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardWriter").field("path", &self.path).field("rows", &self.rows).finish()
    }
}

impl ShardWriter {
    pub(crate) fn create(path: &Path) -> anyhow::Result<ShardWriter> {
        let schema = Arc::new(parse_message_type(SCHEMA).context("GenCAD parquet schema")?);
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_key_value_metadata(Some(vec![KeyValue::new(
                "huggingface".to_string(),
                HF_FEATURES.to_string(),
            )]))
            .build();
        let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let w = SerializedFileWriter::new(f, schema, Arc::new(props))
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(ShardWriter { path: path.to_path_buf(), w, pending: Vec::new(), rows: 0 })
    }

    /// Rows written or pending.
    pub(crate) fn rows(&self) -> usize {
        self.rows + self.pending.len()
    }

    pub(crate) fn push(&mut self, row: HfRow) -> anyhow::Result<()> {
        self.pending.push(row);
        if self.pending.len() >= ROW_GROUP {
            self.flush_group()?;
        }
        Ok(())
    }

    fn flush_group(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        let n = rows.len();
        let ctx = || format!("writing a row group of {}", self.path.display());
        let mut g = self.w.next_row_group().with_context(ctx)?;
        let bytes = |f: &dyn Fn(&HfRow) -> &[u8]| -> Vec<ByteArray> {
            rows.iter().map(|r| ByteArray::from(f(r).to_vec())).collect()
        };
        // Leaf columns in schema order: image.bytes, image.path, deepcad_id, cadquery,
        // token_count, prompt, hundred_subset.
        let mut col = 0;
        while let Some(mut c) = g.next_column().with_context(ctx)? {
            match col {
                0 => c.typed::<ByteArrayType>().write_batch(&bytes(&|r| &r.png), Some(&vec![2; n]), None),
                1 => c.typed::<ByteArrayType>().write_batch(&[], Some(&vec![1; n]), None),
                2 => c.typed::<ByteArrayType>().write_batch(
                    &bytes(&|r| r.deepcad_id.as_bytes()),
                    Some(&vec![1; n]),
                    None,
                ),
                3 => c.typed::<ByteArrayType>().write_batch(
                    &bytes(&|r| r.cadquery.as_bytes()),
                    Some(&vec![1; n]),
                    None,
                ),
                4 => {
                    let v: Vec<i64> = rows.iter().map(|r| r.token_count).collect();
                    c.typed::<Int64Type>().write_batch(&v, Some(&vec![1; n]), None)
                }
                5 => c.typed::<ByteArrayType>().write_batch(
                    &bytes(&|r| r.prompt.as_bytes()),
                    Some(&vec![1; n]),
                    None,
                ),
                _ => {
                    let v: Vec<bool> = rows.iter().map(|r| r.hundred_subset).collect();
                    c.typed::<BoolType>().write_batch(&v, Some(&vec![1; n]), None)
                }
            }
            .with_context(ctx)?;
            c.close().with_context(ctx)?;
            col += 1;
        }
        g.close().with_context(ctx)?;
        self.rows += n;
        Ok(())
    }

    /// Write the last row group and the footer.
    pub(crate) fn finish(mut self) -> anyhow::Result<PathBuf> {
        self.flush_group()?;
        self.w.close().with_context(|| format!("closing {}", self.path.display()))?;
        Ok(self.path)
    }
}
