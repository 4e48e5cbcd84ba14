//! Webhook routes: size check before reading, the raw body read once (capped), the core's
//! verification (HMAC in Rust, `v1a` Ed25519 through WebCrypto), and the per-isolate replay window.

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::{Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request};

use crate::pipeline::Denial;
use crate::reason::Reason;
use crate::time::UnixMillis;
use crate::webhook::{
    self, Prepared, ReplayStatus, ReplayWindow, VerifiedWebhook, WebhookConfig, WebhookHeaders,
};

use super::http::header;

thread_local! {
    static REPLAY: RefCell<HashMap<String, ReplayWindow>> = RefCell::new(HashMap::new());
}

pub(crate) enum Delivery {
    /// Verified and new: forward these exact bytes.
    Fresh(VerifiedWebhook, Vec<u8>),
    /// Verified, but already accepted inside the window.
    Duplicate,
}

fn js_err(e: JsValue) -> Denial {
    worker::console_error!("webhook body read failed: {e:?}");
    Reason::Internal.into()
}

/// Reads the body, refusing with `too_large` (and cancelling) as soon as it exceeds `max` bytes.
pub(crate) async fn read_capped(
    req: &Request,
    declared: Option<u64>,
    max: u64,
    too_large: Reason,
) -> Result<Vec<u8>, Denial> {
    if declared.is_some_and(|n| n > max) {
        return Err(too_large.into());
    }
    let too_large = || Denial::from(too_large);
    if declared.is_some() {
        // Length known and already checked: one crossing for the whole body.
        let buf = JsFuture::from(req.array_buffer().map_err(js_err)?)
            .await
            .map_err(js_err)?;
        let bytes = Uint8Array::new(&buf).to_vec();
        return if bytes.len() as u64 > max {
            Err(too_large())
        } else {
            Ok(bytes)
        };
    }
    let Some(stream) = req.body() else {
        return Ok(Vec::new());
    };
    let get_reader: Function = Reflect::get(&stream, &"getReader".into())
        .map_err(js_err)?
        .unchecked_into();
    let reader = get_reader.call0(&stream).map_err(js_err)?;
    let read: Function = Reflect::get(&reader, &"read".into())
        .map_err(js_err)?
        .unchecked_into();
    let mut out = Vec::new();
    loop {
        let p: Promise = read.call0(&reader).map_err(js_err)?.unchecked_into();
        let chunk = JsFuture::from(p).await.map_err(js_err)?;
        if Reflect::get(&chunk, &"done".into())
            .map_err(js_err)?
            .as_bool()
            == Some(true)
        {
            return Ok(out);
        }
        let value: Uint8Array = Reflect::get(&chunk, &"value".into())
            .map_err(js_err)?
            .unchecked_into();
        if out.len() as u64 + value.length() as u64 > max {
            if let Ok(cancel) = Reflect::get(&reader, &"cancel".into()) {
                let _ = cancel.unchecked_into::<Function>().call0(&reader);
            }
            return Err(too_large());
        }
        let start = out.len();
        out.resize(start + value.length() as usize, 0);
        value.copy_to(&mut out[start..]);
    }
}

/// Verifies a delivery for the webhook config `id` and consults the replay window.
pub(crate) async fn receive(
    id: &str,
    cfg: &WebhookConfig,
    req: &Request,
    headers: &Headers,
    now: UnixMillis,
) -> Result<Delivery, Denial> {
    let reason = |e: webhook::WebhookError| Denial::from(e.reason());
    let declared = header(headers, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
    webhook::check_content_length(cfg, declared).map_err(reason)?;

    let mut wh = WebhookHeaders::new();
    for name in webhook::headers_needed(cfg.provider) {
        if let Some(v) = header(headers, name) {
            wh.insert(name, &v);
        }
    }
    let body = read_capped(
        req,
        declared,
        cfg.max_body_bytes,
        Reason::WebhookBodyTooLarge,
    )
    .await?;
    let verified = match webhook::prepare(cfg, &wh, &body, now).map_err(reason)? {
        Prepared::Verified(v) => v,
        Prepared::NeedsEd25519(pending) => {
            let mut hit = None;
            for (i, c) in pending.candidates().iter().enumerate() {
                if super::webcrypto::ed25519_verify(
                    &c.public_key,
                    pending.signed_content(),
                    &c.signature,
                )
                .await
                {
                    hit = Some(i);
                    break;
                }
            }
            pending.finish(hit).map_err(reason)?
        }
    };
    Ok(if is_fresh(id, cfg, &verified, now) {
        Delivery::Fresh(verified, body)
    } else {
        Delivery::Duplicate
    })
}

/// The replay window's verdict on a verified delivery (both request paths): `false` for an id
/// already accepted inside the window; a fresh id is recorded.
pub(crate) fn is_fresh(
    id: &str,
    cfg: &WebhookConfig,
    verified: &VerifiedWebhook,
    now: UnixMillis,
) -> bool {
    if !cfg.replay_window {
        return true;
    }
    let status = REPLAY.with(|r| {
        let mut r = r.borrow_mut();
        let window = r
            .entry(id.to_owned())
            .or_insert_with(|| ReplayWindow::for_config(cfg));
        window.check_verified(verified, now)
    });
    !matches!(status, Some(ReplayStatus::Duplicate))
}

/// The origin did not take the delivery: forget its id so the sender's retry is not "duplicate".
pub(crate) fn forget(id: &str, cfg: &WebhookConfig, verified: &VerifiedWebhook) {
    if let Some(delivery) = verified.delivery_id() {
        forget_delivery(id, cfg, delivery);
    }
}

/// [`forget`] by the delivery id alone (the synchronous path keeps only the id while forwarding).
pub(crate) fn forget_delivery(id: &str, cfg: &WebhookConfig, delivery: &str) {
    REPLAY.with(|r| {
        if let Some(w) = r.borrow_mut().get_mut(id) {
            w.forget(cfg.provider, delivery);
        }
    });
}
