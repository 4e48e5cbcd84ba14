//! The request fields the edge's decision reads, as the Worker's JS hands them to wasm: one
//! string (one copy across instead of eight) — method, URL, newline-joined header names, then
//! five headers — separated by NUL, which no URL, header name or header value can hold; and a
//! bit mask of those five headers that are absent, so an absent header and an empty one stay
//! apart (workerd itself drops empty header values before a Worker sees them; the interface
//! does not rely on it). Written by `planFields` in `src/worker/glue.js`; read here, natively testable.

/// The headers sent as optional fields, in wire order (bit `h as u32` of the absent mask).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    Authorization,
    Cookie,
    /// `cf-connecting-ip`.
    ClientIp,
    /// `x-request-id`.
    RequestId,
    Accept,
    /// `origin` (cross-site checks, CORS).
    Origin,
    /// `sec-fetch-site` (cross-site checks).
    SecFetchSite,
}

/// The headers `planFields` (glue.js) sends, in [`Header`] order: the wire format's one list.
pub const PLAN_HEADERS: [&str; 7] = [
    "authorization",
    "cookie",
    "cf-connecting-ip",
    "x-request-id",
    "accept",
    "origin",
    "sec-fetch-site",
];

impl Header {
    /// Every header, in wire order (`ALL[i]` is sent as `PLAN_HEADERS[i]`).
    pub const ALL: [Header; PLAN_HEADERS.len()] = [
        Header::Authorization,
        Header::Cookie,
        Header::ClientIp,
        Header::RequestId,
        Header::Accept,
        Header::Origin,
        Header::SecFetchSite,
    ];

    fn index(self) -> usize {
        FIRST_HEADER + self as usize
    }

    fn absent_bit(self) -> u32 {
        1 << self as u32
    }
}

const FIELDS: usize = FIRST_HEADER + PLAN_HEADERS.len();
const METHOD: usize = 0;
const URL: usize = 1;
const HEADER_NAMES: usize = 2;
const FIRST_HEADER: usize = 3;

/// One request's fields, owned (a request waiting for WebCrypto or for its body keeps them).
#[derive(Debug, Clone)]
pub struct RequestFields {
    raw: String,
    /// Byte ranges of the fields in `raw`.
    spans: [(usize, usize); FIELDS],
    absent: u32,
}

impl RequestFields {
    /// `None` unless `raw` holds exactly the fields (method, URL, header names, [`PLAN_HEADERS`]).
    pub fn parse(raw: String, absent: u32) -> Option<RequestFields> {
        // One searcher over the whole string finds the separators a word at a time (memchr): a
        // byte-by-byte loop was ~1 % of a cached forward's instructions.
        let mut separators = raw.match_indices('\0').map(|(i, _)| i);
        let mut spans = [(0, 0); FIELDS];
        let mut start = 0;
        for (n, span) in spans.iter_mut().enumerate() {
            // The last field runs to the end; each earlier one to its separator.
            let end = if n + 1 < FIELDS {
                separators.next()?
            } else {
                raw.len()
            };
            *span = (start, end);
            start = end + 1;
        }
        // A separator in the last field: too many fields.
        separators
            .next()
            .is_none()
            .then_some(RequestFields { raw, spans, absent })
    }

    fn field(&self, i: usize) -> &str {
        let (from, to) = self.spans[i];
        &self.raw[from..to]
    }

    pub fn method(&self) -> &str {
        self.field(METHOD)
    }

    pub fn url(&self) -> &str {
        self.field(URL)
    }

    /// Newline-joined lower-case names of all request headers.
    pub fn header_names(&self) -> &str {
        self.field(HEADER_NAMES)
    }

    /// The header's value, `None` if the request did not carry it.
    pub fn header(&self, h: Header) -> Option<&str> {
        (self.absent & h.absent_bit() == 0).then(|| self.field(h.index()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `planFields` in glue.js sends: absent headers as empty fields plus their bit.
    fn wire(headers: [Option<&str>; 7]) -> (String, u32) {
        let mut s = String::from("POST\0https://edge.test/a?b=1\0authorization\naccept");
        let mut absent = 0;
        for (i, h) in headers.iter().enumerate() {
            s.push('\0');
            match h {
                Some(v) => s.push_str(v),
                None => absent |= 1 << i,
            }
        }
        (s, absent)
    }

    /// The golden encodings that tests/js/request_fields.test.mjs checks against glue.js.
    #[test]
    fn all_lists_every_header_in_wire_order() {
        for (i, h) in Header::ALL.iter().enumerate() {
            assert_eq!(*h as usize, i, "{h:?}");
            assert_eq!(h.absent_bit(), 1 << i);
        }
    }

    #[test]
    fn the_golden_encodings_decode_to_their_headers() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../tests/vectors/plan/request_fields.json"))
                .unwrap();
        let names: Vec<&str> = v["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap())
            .collect();
        assert_eq!(names, PLAN_HEADERS);
        let all = Header::ALL;
        for c in v["cases"].as_array().unwrap() {
            let raw = c["encoded"].as_str().unwrap().to_owned();
            let f = RequestFields::parse(raw, c["absent"].as_u64().unwrap() as u32)
                .unwrap_or_else(|| panic!("{}", c["name"]));
            assert_eq!(f.method(), c["method"].as_str().unwrap());
            assert_eq!(f.url(), c["url"].as_str().unwrap());
            for (h, name) in all.iter().zip(PLAN_HEADERS) {
                assert_eq!(
                    f.header(*h),
                    c["headers"][name].as_str(),
                    "{name} in {}",
                    c["name"]
                );
            }
        }
    }

    #[test]
    fn every_field_is_read_back_in_place() {
        let (raw, absent) = wire([
            Some("Bearer a.b.c"),
            Some("sid=1; theme=dark"),
            Some("203.0.113.9"),
            Some("req-1"),
            Some("text/html"),
            Some("https://app.example"),
            Some("same-origin"),
        ]);
        let f = RequestFields::parse(raw, absent).unwrap();
        assert_eq!(f.method(), "POST");
        assert_eq!(f.url(), "https://edge.test/a?b=1");
        assert_eq!(f.header_names(), "authorization\naccept");
        assert_eq!(f.header(Header::Authorization), Some("Bearer a.b.c"));
        assert_eq!(f.header(Header::Cookie), Some("sid=1; theme=dark"));
        assert_eq!(f.header(Header::ClientIp), Some("203.0.113.9"));
        assert_eq!(f.header(Header::RequestId), Some("req-1"));
        assert_eq!(f.header(Header::Accept), Some("text/html"));
        assert_eq!(f.header(Header::Origin), Some("https://app.example"));
        assert_eq!(f.header(Header::SecFetchSite), Some("same-origin"));
    }

    #[test]
    fn an_absent_header_and_an_empty_one_stay_apart() {
        let (raw, absent) = wire([Some(""), None, None, Some("r"), None, None, None]);
        let f = RequestFields::parse(raw, absent).unwrap();
        assert_eq!(f.header(Header::Authorization), Some(""));
        assert_eq!(f.header(Header::Cookie), None);
        assert_eq!(f.header(Header::ClientIp), None);
        assert_eq!(f.header(Header::RequestId), Some("r"));
        assert_eq!(f.header(Header::Accept), None);
    }

    #[test]
    fn a_field_more_or_less_is_refused() {
        let (raw, absent) = wire([None; 7]);
        assert!(RequestFields::parse(raw.clone(), absent).is_some());
        assert!(RequestFields::parse(format!("{raw}\0extra"), absent).is_none());
        let fewer = raw.rsplit_once('\0').unwrap().0.to_owned();
        assert!(RequestFields::parse(fewer, absent).is_none());
        assert!(RequestFields::parse(String::new(), 0).is_none());
    }

    proptest::proptest! {
        /// Any string splits into the same fields as `str::split` gives, and exactly when that
        /// gives one per field (a trailing separator is one field too many).
        #[test]
        fn parse_agrees_with_split(raw in "[a\\x00\\n\u{e9}]{0,40}") {
            let parts: Vec<&str> = raw.split('\0').collect();
            match RequestFields::parse(raw.clone(), 0) {
                Some(f) => {
                    proptest::prop_assert_eq!(parts.len(), FIELDS);
                    for (i, part) in parts.iter().enumerate() {
                        proptest::prop_assert_eq!(f.field(i), *part);
                    }
                }
                None => proptest::prop_assert_ne!(parts.len(), FIELDS),
            }
        }
    }
}
