//! What a model step cost, in micro-dollars, from the model config's prices (micro-dollars per
//! million tokens). Cached prompt tokens are priced as input: model configs carry one input
//! price. A model with no prices has no cost (`None`), which spend limits treat as free.

use agentry_llm::Usage;
use agentry_store::chats::models::ModelConfig;

pub fn micros(model: &ModelConfig, usage: &Usage) -> Option<i64> {
    if model.input_price_micros_per_million.is_none() && model.output_price_micros_per_million.is_none() {
        return None;
    }
    let input = usage.input_tokens + usage.cache_read_tokens.unwrap_or(0) + usage.cache_creation_tokens.unwrap_or(0);
    let cost = |tokens: u64, price: Option<i64>| -> u128 { tokens as u128 * price.unwrap_or(0).max(0) as u128 };
    let total = cost(input, model.input_price_micros_per_million) + cost(usage.output_tokens, model.output_price_micros_per_million);
    // Round up: a step that used tokens never costs zero when it has a price.
    Some(total.div_ceil(1_000_000).min(i64::MAX as u128) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(input: Option<i64>, output: Option<i64>) -> ModelConfig {
        ModelConfig {
            id: uuid::Uuid::nil(),
            provider: "openai".into(),
            provider_id: None,
            provider_display_name: None,
            organization_id: None,
            organization_ids: None,
            model: "m".into(),
            display_name: "m".into(),
            enabled: true,
            is_default: true,
            context_limit: 1000,
            input_price_micros_per_million: input,
            output_price_micros_per_million: output,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn prices_per_million() {
        // $3 / M input, $15 / M output: 1000 in + 500 out = 3000 + 7500 micro-dollars.
        let m = model(Some(3_000_000), Some(15_000_000));
        let u = Usage { input_tokens: 1000, output_tokens: 500, ..Usage::default() };
        assert_eq!(micros(&m, &u), Some(10_500));
        let tiny = Usage { input_tokens: 1, output_tokens: 0, ..Usage::default() };
        assert_eq!(micros(&m, &tiny), Some(3));
        assert_eq!(micros(&model(None, None), &u), None);
    }
}
