//! Tokenizer and chat template: `tokenizer.json` through the `tokenizers` crate, the chat
//! template from `chat_template.jinja`, else `chat_template.json`, else
//! `tokenizer_config.json`, else Qwen2.5-VL's, rendered with minijinja (trim_blocks +
//! lstrip_blocks as transformers does), and `<|image_pad|>` expansion to the number of
//! merged vision tokens.
use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use std::path::Path;

/// GenCAD-Code's instruction, used when no prompt is given (defined at the boundary).
pub use cadrl_backend::DEFAULT_PROMPT;

/// Qwen2.5-VL's chat template, used when the checkpoint has none.
pub(crate) const QWEN25VL_TEMPLATE: &str = "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// Tokenizer plus chat template of a checkpoint.
pub struct ChatTokenizer {
    /// The checkpoint's `tokenizer.json`.
    pub tokenizer: tokenizers::Tokenizer,
    /// The Jinja chat template (the checkpoint's, else [`QWEN25VL_TEMPLATE`]).
    template: String,
    /// Id of `<|im_end|>`, the end-of-turn token appended to completions and a stop token.
    pub im_end_id: u32,
    /// Id of `<|image_pad|>`, the placeholder that image features replace.
    pub image_pad_id: u32,
    /// Padding id of batches: `<|endoftext|>`, else `<|im_end|>`.
    pub pad_id: u32,
}

impl std::fmt::Debug for ChatTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTokenizer").field("im_end_id", &self.im_end_id).finish()
    }
}

fn read_template(dir: &Path) -> Result<Option<String>> {
    let jinja = dir.join("chat_template.jinja");
    if jinja.exists() {
        return Ok(Some(
            std::fs::read_to_string(&jinja).with_context(|| format!("reading {}", jinja.display()))?,
        ));
    }
    for (file, key) in [("chat_template.json", "chat_template"), ("tokenizer_config.json", "chat_template")] {
        let p = dir.join(file);
        if !p.exists() {
            continue;
        }
        let v: Value = serde_json::from_str(
            &std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("parsing {}", p.display()))?;
        match v.get(key) {
            Some(Value::String(s)) => return Ok(Some(s.clone())),
            Some(Value::Array(a)) => {
                // [{name, template}, ...]: take "default"
                for t in a {
                    if t.get("name").and_then(|n| n.as_str()) == Some("default")
                        && let Some(s) = t.get("template").and_then(|x| x.as_str())
                    {
                        return Ok(Some(s.to_string()));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(None)
}

impl ChatTokenizer {
    /// Load from a checkpoint directory.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let p = dir.join("tokenizer.json");
        let tokenizer =
            tokenizers::Tokenizer::from_file(&p).map_err(|e| anyhow!("loading {}: {e}", p.display()))?;
        let template = read_template(dir)?.unwrap_or_else(|| QWEN25VL_TEMPLATE.to_string());
        let id = |t: &str| -> Result<u32> {
            tokenizer.token_to_id(t).with_context(|| format!("{}: special token `{t}` missing", p.display()))
        };
        let im_end_id = id("<|im_end|>")?;
        let image_pad_id = id("<|image_pad|>")?;
        let pad_id = tokenizer.token_to_id("<|endoftext|>").unwrap_or(im_end_id);
        Ok(Self { tokenizer, template, im_end_id, image_pad_id, pad_id })
    }

    /// Render the chat template for one user turn: optional image, then the text.
    fn render_user_turn(&self, prompt: &str, with_image: bool) -> Result<String> {
        let mut content = vec![];
        if with_image {
            content.push(json!({"type": "image"}));
        }
        content.push(json!({"type": "text", "text": prompt}));
        let messages = json!([{"role": "user", "content": content}]);
        self.render(&messages, true)
    }

    /// Render arbitrary messages.
    fn render(&self, messages: &Value, add_generation_prompt: bool) -> Result<String> {
        let mut env = minijinja::Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_function("raise_exception", |msg: String| -> Result<String, minijinja::Error> {
            Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, msg))
        });
        env.add_template("chat", &self.template).context("compiling chat template")?;
        let tmpl = env.get_template("chat").context("chat template")?;
        let ctx = minijinja::context! {
            messages => minijinja::Value::from_serialize(messages),
            add_generation_prompt => add_generation_prompt,
            add_vision_id => false,
        };
        tmpl.render(ctx).context("rendering chat template")
    }

    /// Tokenize text without adding special tokens.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.tokenizer.encode(text, false).map_err(|e| anyhow!("tokenizing: {e}"))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Decode ids (special tokens skipped).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer.decode(ids, true).map_err(|e| anyhow!("decoding: {e}"))
    }

    /// Prompt ids for one user turn with an image expanded to `n_image_tokens` pads.
    pub fn prompt_ids(&self, prompt: &str, n_image_tokens: Option<usize>) -> Result<Vec<u32>> {
        let text = self.render_user_turn(prompt, n_image_tokens.is_some())?;
        let text = match n_image_tokens {
            Some(n) => {
                let Some(pos) = text.find("<|image_pad|>") else {
                    bail!("chat template produced no <|image_pad|>")
                };
                let mut s = String::with_capacity(text.len() + n * 13);
                s.push_str(&text[..pos]);
                for _ in 0..n {
                    s.push_str("<|image_pad|>");
                }
                s.push_str(&text[pos + "<|image_pad|>".len()..]);
                s
            }
            None => text,
        };
        self.encode(&text)
    }

    /// Completion ids followed by `<|im_end|>`.
    pub fn completion_ids(&self, completion: &str) -> Result<Vec<u32>> {
        let mut ids = self.encode(completion)?;
        ids.push(self.im_end_id);
        Ok(ids)
    }
}
