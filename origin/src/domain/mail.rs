//! Outgoing mail over SMTP (lettre): the links of password resets and e-mail verifications.
//! Unconfigured (`SMTP_URL` unset), every operation that needs to send refuses with
//! [`DomainError::MailNotConfigured`] before it changes anything.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::error::{DomainError, DomainResult};
use crate::config::MailConfig;

/// One SMTP exchange may take this long before it counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    public_url: String,
}

#[derive(Clone)]
pub struct Mailer {
    smtp: Option<Smtp>,
}

/// A message ready to go.
pub struct Mail(Message);

impl Mailer {
    /// From the configuration; the error names the variable.
    pub fn from_config(c: &MailConfig) -> Result<Mailer, String> {
        let Some(url) = &c.smtp_url else {
            return Ok(Mailer { smtp: None });
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("SMTP_URL: {e}"))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let from = c
            .from
            .as_deref()
            .ok_or("MAIL_FROM: is required when SMTP_URL is set")?
            .parse::<Mailbox>()
            .map_err(|e| format!("MAIL_FROM: {e}"))?;
        let public_url = c
            .public_url
            .clone()
            .ok_or("PUBLIC_URL: is required when SMTP_URL is set")?;
        Ok(Mailer {
            smtp: Some(Smtp {
                transport,
                from,
                public_url,
            }),
        })
    }

    fn smtp(&self) -> DomainResult<&Smtp> {
        self.smtp.as_ref().ok_or(DomainError::MailNotConfigured)
    }

    /// Refuses early when mail cannot be sent at all.
    pub fn require(&self) -> DomainResult<()> {
        self.smtp().map(|_| ())
    }

    /// `{PUBLIC_URL}{path}#token=…`: in the fragment, the token stays out of server logs and
    /// `Referer` headers.
    pub fn link(&self, path: &str, token: &str) -> DomainResult<String> {
        Ok(format!("{}{path}#token={token}", self.smtp()?.public_url))
    }

    /// A plain-text message to `to`.
    pub fn compose(&self, to: &str, subject: &str, body: String) -> DomainResult<Mail> {
        let smtp = self.smtp()?;
        let to: Mailbox = to
            .parse()
            .map_err(|e| DomainError::internal(format!("recipient {to:?}: {e}")))?;
        Message::builder()
            .from(smtp.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map(Mail)
            .map_err(|e| DomainError::internal(format!("mail: {e}")))
    }

    /// Sends now; an SMTP failure is [`DomainError::MailUnavailable`].
    pub async fn send(&self, mail: Mail) -> DomainResult<()> {
        let smtp = self.smtp()?;
        smtp.transport.send(mail.0).await.map(|_| ()).map_err(|e| {
            tracing::error!(side = "upstream", error = %e, "smtp send failed");
            DomainError::MailUnavailable
        })
    }

    /// Sends in the background (the answer must not wait for, or reveal, the SMTP exchange);
    /// a failure is logged.
    pub fn send_later(&self, mail: Mail) {
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.send(mail).await {
                tracing::error!(error = %e, "background mail not sent");
            }
        });
    }
}
