//! Tokenizer half of `init`: a byte-level BPE shaped like Qwen2.5's `tokenizer.json` (NFC,
//! Qwen's split regex, ByteLevel pre-tokenizer/post-processor/decoder, no unknown token) trained
//! with the `tokenizers` crate's `BpeTrainer`, then Qwen2.5-VL's 22 added tokens appended in
//! Qwen's order, so the chat template and the special-token roles match Qwen2.5-VL's.
use super::write_json;
use crate::atomic::write_dir_atomic;
use crate::chat::QWEN25VL_TEMPLATE;
use anyhow::{Context, Result, anyhow, bail};

use serde_json::json;
use std::path::Path;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{
    AddedToken, DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper,
    SplitDelimiterBehavior, Tokenizer, TokenizerImpl,
};

/// Qwen2's pre-tokenizer split regex (as in Qwen2.5's `tokenizer.json`).
const QWEN_SPLIT_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen2.5-VL's added tokens in id order (`added_tokens_decoder`), with their `special` flag.
pub const QWEN25VL_ADDED_TOKENS: [(&str, bool); 22] = [
    ("<|endoftext|>", true),
    ("<|im_start|>", true),
    ("<|im_end|>", true),
    ("<|object_ref_start|>", true),
    ("<|object_ref_end|>", true),
    ("<|box_start|>", true),
    ("<|box_end|>", true),
    ("<|quad_start|>", true),
    ("<|quad_end|>", true),
    ("<|vision_start|>", true),
    ("<|vision_end|>", true),
    ("<|vision_pad|>", true),
    ("<|image_pad|>", true),
    ("<|video_pad|>", true),
    ("<tool_call>", false),
    ("</tool_call>", false),
    ("<|fim_prefix|>", false),
    ("<|fim_middle|>", false),
    ("<|fim_suffix|>", false),
    ("<|fim_pad|>", false),
    ("<|repo_name|>", false),
    ("<|file_sep|>", false),
];

pub use cadrl_backend::TokenizerReport;

type TrainTok =
    TokenizerImpl<BPE, NormalizerWrapper, PreTokenizerWrapper, PostProcessorWrapper, DecoderWrapper>;

/// Train a Qwen2-style byte-level BPE with `vocab_size` learned tokens (256 byte symbols plus
/// merges; the 22 Qwen2.5-VL added tokens come on top) on `texts`, and write `tokenizer.json`,
/// `tokenizer_config.json` (chat template, eos/pad, `Qwen2Tokenizer`) and `chat_template.jinja`
/// to `out_dir` (replaced atomically).
pub fn train_tokenizer(texts: &[String], vocab_size: usize, out_dir: &Path) -> Result<TokenizerReport> {
    if texts.is_empty() {
        bail!("train_tokenizer: no training texts");
    }
    let alphabet: std::collections::HashSet<char> = ByteLevel::alphabet().into_iter().collect();
    if vocab_size < alphabet.len() {
        bail!("train_tokenizer: vocab_size {vocab_size} is below the {} byte symbols", alphabet.len());
    }
    let split =
        Split::new(SplitPattern::Regex(QWEN_SPLIT_REGEX.into()), SplitDelimiterBehavior::Isolated, false)
            .map_err(|e| anyhow!("compiling the Qwen split regex: {e}"))?;
    let byte_level = ByteLevel::new(false, false, false);
    let mut tok: TrainTok = TokenizerImpl::new(BPE::default());
    tok.with_normalizer(Some(NFC))
        .with_pre_tokenizer(Some(Sequence::new(vec![split.into(), byte_level.into()])))
        .with_post_processor(Some(byte_level))
        .with_decoder(Some(byte_level));
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .initial_alphabet(alphabet)
        .build();
    tok.train(&mut trainer, texts.iter()).map_err(|e| anyhow!("training the BPE tokenizer: {e}"))?;
    let json = tok.to_string(false).map_err(|e| anyhow!("serialising the trained tokenizer: {e}"))?;
    let mut tok: Tokenizer = json.parse().map_err(|e| anyhow!("re-reading the trained tokenizer: {e}"))?;
    let learned = tok.get_vocab_size(false);
    for (i, (content, special)) in QWEN25VL_ADDED_TOKENS.iter().enumerate() {
        let t = AddedToken::from(*content, *special).normalized(false);
        if *special {
            tok.add_special_tokens(&[t]);
        } else {
            tok.add_tokens(&[t]);
        }
        if tok.token_to_id(content) != Some((learned + i) as u32) {
            bail!("train_tokenizer: added token `{content}` did not get id {}", learned + i);
        }
    }
    let mut n_tokens = 0usize;
    for (i, t) in texts.iter().enumerate() {
        let enc = tok.encode(t.as_str(), false).map_err(|e| anyhow!("encoding training text {i}: {e}"))?;
        n_tokens += enc.len();
    }
    let report = TokenizerReport {
        vocab_size: tok.get_vocab_size(true),
        learned_vocab_size: learned,
        programs: texts.len(),
        mean_tokens_per_program: n_tokens as f64 / texts.len() as f64,
    };
    let tokenizer_json = tok.to_string(true).map_err(|e| anyhow!("serialising tokenizer.json: {e}"))?;
    let mut decoder = serde_json::Map::new();
    for (i, (content, special)) in QWEN25VL_ADDED_TOKENS.iter().enumerate() {
        decoder.insert(
            (learned + i).to_string(),
            json!({"content": content, "lstrip": false, "normalized": false, "rstrip": false,
                   "single_word": false, "special": special}),
        );
    }
    let additional: Vec<&str> = QWEN25VL_ADDED_TOKENS[1..14].iter().map(|t| t.0).collect();
    let config = json!({
        "add_bos_token": false,
        "add_prefix_space": false,
        "added_tokens_decoder": decoder,
        "additional_special_tokens": additional,
        "bos_token": null,
        "chat_template": QWEN25VL_TEMPLATE,
        "clean_up_tokenization_spaces": false,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "extra_special_tokens": {},
        "model_max_length": 131072,
        "pad_token": "<|endoftext|>",
        "processor_class": "Qwen2_5_VLProcessor",
        "split_special_tokens": false,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": null
    });
    write_dir_atomic(out_dir, |d| {
        std::fs::write(d.join("tokenizer.json"), &tokenizer_json).context("writing tokenizer.json")?;
        write_json(&d.join("tokenizer_config.json"), &config)?;
        std::fs::write(d.join("chat_template.jinja"), QWEN25VL_TEMPLATE)
            .context("writing chat_template.jinja")
    })?;
    Ok(report)
}
