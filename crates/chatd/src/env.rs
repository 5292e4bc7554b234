//! Provider keys from the environment, applied once at server start so someone with a key can
//! chat without touching the admin API.
//!
//! - `OPENAI_API_KEY` set: the `openai` provider row is created, or its key is replaced, and it
//!   is enabled; `OPENAI_BASE_URL`, when set, becomes its base URL (otherwise an existing base URL
//!   is kept).
//! - `ANTHROPIC_API_KEY` set: the same for the `anthropic` provider, with `ANTHROPIC_BASE_URL`
//!   (as Anthropic's SDKs read it: with or without the `/v1` suffix).
//! - If the deployment then has no default model config, one is created for the first provider
//!   applied (OpenAI before Anthropic): that provider's `OPENAI_MODEL` / `ANTHROPIC_MODEL` if
//!   set, else `AGENTRY_DEFAULT_MODEL`, else [`DEFAULT_OPENAI_MODEL`] / [`DEFAULT_ANTHROPIC_MODEL`],
//!   with no prices. Existing model configs are never changed.
//!
//! Empty variables count as unset. Every replica applies the same environment; the writes are
//! idempotent and serialized in the database.

use agentry_store::Store;
use agentry_store::chats::worker::EnvProvider;

pub const DEFAULT_OPENAI_MODEL: &str = "gpt-4.1-mini";
pub const DEFAULT_ANTHROPIC_MODEL: &str = "claude-sonnet-4-5";

/// What a process environment asks for: `(provider, key, base_url, default model)`.
pub fn wanted(get: impl Fn(&str) -> Option<String>) -> Vec<(String, String, Option<String>, String)> {
    let var = |k: &str| get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let model = var("AGENTRY_DEFAULT_MODEL");
    let mut out = Vec::new();
    if let Some(key) = var("OPENAI_API_KEY") {
        let m = var("OPENAI_MODEL").or_else(|| model.clone()).unwrap_or(DEFAULT_OPENAI_MODEL.into());
        out.push(("openai".into(), key, var("OPENAI_BASE_URL"), m));
    }
    if let Some(key) = var("ANTHROPIC_API_KEY") {
        let m = var("ANTHROPIC_MODEL").or(model).unwrap_or(DEFAULT_ANTHROPIC_MODEL.into());
        out.push(("anthropic".into(), key, var("ANTHROPIC_BASE_URL"), m));
    }
    out
}

/// Applies [`wanted`] for this process's environment.
pub async fn apply(store: &Store) -> Result<Vec<EnvProvider>, agentry_store::StoreError> {
    let mut done = Vec::new();
    for (provider, key, base, model) in wanted(|k| std::env::var(k).ok()) {
        let r = store.worker().apply_env_provider(&provider, &key, base.as_deref(), &model).await?;
        tracing::info!(provider = %r.provider, created = r.created, default_model = ?r.default_model, "provider configured from the environment");
        done.push(r);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        assert!(wanted(env(&[])).is_empty());
        assert!(wanted(env(&[("OPENAI_API_KEY", " ")])).is_empty());
        let w = wanted(env(&[("OPENAI_API_KEY", "sk-1"), ("OPENAI_BASE_URL", "http://x/v1"), ("ANTHROPIC_API_KEY", "a-1")]));
        assert_eq!(w[0], ("openai".into(), "sk-1".into(), Some("http://x/v1".into()), DEFAULT_OPENAI_MODEL.into()));
        assert_eq!(w[1], ("anthropic".into(), "a-1".into(), None, DEFAULT_ANTHROPIC_MODEL.into()));
        let w = wanted(env(&[("ANTHROPIC_API_KEY", "a"), ("AGENTRY_DEFAULT_MODEL", "claude-haiku-4-5")]));
        assert_eq!(w[0].3, "claude-haiku-4-5");
    }

    #[test]
    fn reads_the_sdks_base_url_and_model_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        let w = wanted(env(&[
            ("ANTHROPIC_API_KEY", "a-1"),
            ("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
            ("ANTHROPIC_MODEL", "claude-opus-4-1"),
            ("AGENTRY_DEFAULT_MODEL", "ignored-for-anthropic"),
        ]));
        assert_eq!(w[0], ("anthropic".into(), "a-1".into(), Some("https://api.anthropic.com".into()), "claude-opus-4-1".into()));
        let w = wanted(env(&[("OPENAI_API_KEY", "sk-1"), ("OPENAI_MODEL", "gpt-5"), ("AGENTRY_DEFAULT_MODEL", "other")]));
        assert_eq!(w[0].3, "gpt-5");
    }
}
