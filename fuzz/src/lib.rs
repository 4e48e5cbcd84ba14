//! What every fuzz target shares: an allocator that measures the peak memory a call takes
//! (the "allocation bounded by the input" property), and small independent oracles (HMAC,
//! hex, base64) that the targets check the crate's answers against.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts live heap bytes and the highest count since the last [`peak_during`] began.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(p, layout)
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = System.realloc(p, layout, new_size);
        if !q.is_null() {
            if new_size >= layout.size() {
                let grow = new_size - layout.size();
                let now = LIVE.fetch_add(grow, Ordering::Relaxed) + grow;
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the most heap it held at once beyond what was live
/// before (bytes). Whatever `f` returns is still live when measured, so it counts too.
pub fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    (out, peak)
}

/// The allocation property every target asserts: at most `per_byte` bytes per input byte
/// plus a fixed `floor` (tables, error text, the first capacity steps of a few vectors).
pub fn assert_bounded(what: &str, input_len: usize, peak: usize, per_byte: usize, floor: usize) {
    let bound = input_len.saturating_mul(per_byte).saturating_add(floor);
    assert!(
        peak <= bound,
        "{what}: {peak} bytes held at once for {input_len} input bytes (bound {bound})"
    );
}

/// HMAC-SHA256 over the concatenation of `parts`: the oracle the MAC checks are compared with.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn b64_std(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Input bytes as text for the string-typed parsers: invalid UTF-8 replaced, so every input
/// reaches the parser (a harness that returned early on non-UTF-8 would fuzz nothing).
pub fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Splits `data` at the first `n - 1` occurrences of `sep` into exactly `n` fields (missing
/// fields are empty): the framing of the multi-field targets' inputs.
pub fn fields(data: &[u8], sep: u8, n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |&b| b == sep).collect();
    while out.len() < n {
        out.push(&[]);
    }
    out
}

/// A mutation read from the input: flip `xor` into the byte at `at % len` (the signed-then-
/// mutated mode of the MAC targets). `None` for an empty target or a zero `xor`.
pub fn mutate(bytes: &mut [u8], at: u16, xor: u8) -> bool {
    if bytes.is_empty() || xor == 0 {
        return false;
    }
    let i = at as usize % bytes.len();
    bytes[i] ^= xor;
    true
}

/// The HMAC secret the webhook targets configure and sign with.
pub const WEBHOOK_KEY: &[u8] = b"fuzz-webhook-secret-0123456789ab";
/// The clock of the webhook targets (unix seconds) when the input names no timestamp.
pub const WEBHOOK_NOW: u64 = 1_700_000_000;

/// One route's config for `provider` with [`WEBHOOK_KEY`] as its only secret.
pub fn webhook_config(provider: edge_auth::webhook::Provider) -> edge_auth::webhook::WebhookConfig {
    use edge_auth::secret::SecretBytes;
    use edge_auth::webhook::{WebhookConfig, WebhookSecret};
    let key = SecretBytes::new(WEBHOOK_KEY.to_vec(), 16).expect("long enough");
    WebhookConfig::new(provider, vec![WebhookSecret::hmac(key)])
}

/// A delivery id the edge forwards: 1..=256 visible ASCII characters.
pub fn assert_delivery_id(id: Option<&str>) {
    let id = id.expect("a verified delivery has an id");
    assert!(
        !id.is_empty() && id.len() <= 256 && id.bytes().all(|b| (0x21..=0x7e).contains(&b)),
        "delivery id {id:?}"
    );
}

/// The property every configuration reader shares: what it accepts is JSON that serde_json
/// reads too (the readers are no looser than the grammar), as an array when `array`.
pub fn assert_json_accepted(what: &str, text: &str, array: bool) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{what} accepted what serde_json refuses ({e}): {text:?}"));
    assert!(
        !array || v.is_array(),
        "{what} accepted a non-array: {text:?}"
    );
    v
}

/// A refusal's text stays proportional to the input (it quotes what it refuses, escaped).
pub fn assert_error_bounded(what: &str, input_len: usize, message: &str) {
    assert!(
        message.len() <= input_len * 10 + 1024,
        "{what}: {} bytes of error for {input_len} input bytes",
        message.len()
    );
}
