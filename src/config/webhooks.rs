//! The webhook routes' secrets, `WEBHOOK_<ID>`: read when the isolate starts, parsed on their
//! route's first delivery.
//!
//! Parsed at start, they made every fresh isolate compile the webhook configuration reader on its
//! first request, whatever that request was (2.7 M instructions, issue 23), and one malformed
//! secret took every route down with it (`config_invalid` for all). Now a malformed `WEBHOOK_X`
//! fails its own route only — as an unset one always has (`webhook_not_configured`) — answering
//! 500 `config_invalid` and logging the variable and what is wrong with it. `edge-config-check`
//! parses every one it is given ([`Webhooks::problems`]), so a deploy check still catches them.

use core::fmt;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use zeroize::Zeroizing;

use super::ConfigProblem;
use crate::webhook::WebhookConfig;

/// One webhook id's secret as deployed, and its reading once a delivery needed it.
#[derive(Clone)]
pub struct WebhookSlot {
    variable: String,
    /// The variable's text (provider, secrets, limits): wiped when the configuration is dropped.
    text: Zeroizing<String>,
    parsed: OnceLock<Result<WebhookConfig, String>>,
    /// Set once a refusal has been reported ([`Self::read`]).
    reported: OnceLock<()>,
}

/// A slot's reading: the configuration, or why the variable was refused.
pub type Reading<'a> = Result<&'a WebhookConfig, &'a str>;

impl WebhookSlot {
    pub(crate) fn new(variable: String, text: String) -> Self {
        WebhookSlot {
            variable,
            text: Zeroizing::new(text),
            parsed: OnceLock::new(),
            reported: OnceLock::new(),
        }
    }

    /// The variable this slot was read from (`WEBHOOK_<ID>`).
    pub fn variable(&self) -> &str {
        &self.variable
    }

    /// The configuration, parsed on the first call; `Err` says what is wrong with the variable
    /// (never a secret).
    pub fn config(&self) -> Reading<'_> {
        self.parsed
            .get_or_init(|| WebhookConfig::from_json(&self.text).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(String::as_str)
    }

    /// Like [`Self::config`], and whether this is the first call to report the refusal (so it is
    /// logged once per isolate, not once per delivery).
    pub fn read(&self) -> (Reading<'_>, bool) {
        let reading = self.config();
        let first_refusal = reading.is_err() && self.reported.set(()).is_ok();
        (reading, first_refusal)
    }
}

impl fmt::Debug for WebhookSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The text holds the secrets: never printed.
        f.debug_struct("WebhookSlot")
            .field("variable", &self.variable)
            .field("parsed", &self.parsed.get().map(Result::is_ok))
            .finish_non_exhaustive()
    }
}

/// Every webhook id a route names whose secret is set ([`super::EdgeConfig::webhooks`]).
#[derive(Clone, Debug, Default)]
pub struct Webhooks(BTreeMap<String, WebhookSlot>);

impl Webhooks {
    /// The slot of webhook `id`; `None` when its secret is not set.
    pub fn get(&self, id: &str) -> Option<&WebhookSlot> {
        self.0.get(id)
    }

    /// Webhook `id`'s configuration once a delivery has been verified with it (then it parsed).
    pub fn config(&self, id: &str) -> Option<&WebhookConfig> {
        self.get(id)?.config().ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.0.contains_key(id)
    }

    pub(crate) fn insert(&mut self, id: String, slot: WebhookSlot) {
        self.0.insert(id, slot);
    }

    /// Parses every secret now, and says which are wrong: what `edge-config-check` reports.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        self.0
            .values()
            .filter_map(|slot| {
                slot.config().err().map(|problem| ConfigProblem {
                    variable: slot.variable.clone(),
                    problem: problem.to_owned(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::Provider;

    const STRIPE: &str = r#"{"provider":"stripe","secrets":["whsec_0123456789abcdef0123"]}"#;

    #[test]
    fn a_slot_parses_on_first_use() {
        let slot = WebhookSlot::new("WEBHOOK_STRIPE".into(), STRIPE.into());
        assert!(
            slot.parsed.get().is_none(),
            "nothing is parsed before it is asked for"
        );
        let (reading, refused_now) = slot.read();
        assert_eq!(reading.unwrap().provider, Provider::Stripe);
        assert!(!refused_now);
        assert!(slot.parsed.get().is_some());
    }

    #[test]
    fn a_malformed_secret_is_refused_with_the_reason_and_never_printed() {
        let text = r#"{"provider":"stripe","secrets":["short-secret-x"]}"#;
        let slot = WebhookSlot::new("WEBHOOK_STRIPE".into(), text.into());
        let problem = slot.config().unwrap_err();
        let (_, first) = slot.read();
        assert!(first, "the first read reports, even after a plain look");
        assert!(problem.contains("at least 16"), "{problem}");
        assert!(
            !problem.contains("short-secret-x"),
            "the refusal never names the secret"
        );
        assert!(!format!("{slot:?}").contains("short-secret-x"), "{slot:?}");
        assert!(!slot.read().1, "refused once, remembered");

        let mut hooks = Webhooks::default();
        hooks.insert("stripe".into(), slot);
        hooks.insert(
            "ok".into(),
            WebhookSlot::new("WEBHOOK_OK".into(), STRIPE.into()),
        );
        assert_eq!(hooks.config("stripe").map(|c| c.provider), None);
        assert_eq!(
            hooks.config("ok").map(|c| c.provider),
            Some(Provider::Stripe)
        );
        let problems = hooks.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].variable, "WEBHOOK_STRIPE");
    }
}
