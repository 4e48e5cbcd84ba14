//! Strict JSON scanning without building a tree: one pass checks a whole document (RFC 8259
//! grammar, UTF-8, paired surrogates, finite numbers, bounded nesting) and refuses a repeated
//! member name at any depth, so two parsers can never disagree on which `alg` or `sub` a
//! document carries. Callers get the spans of the members they ask for and read them lazily.

use std::borrow::Cow;

pub(crate) mod number;
pub(crate) mod write;

use core::fmt;

/// Deepest nesting accepted: 127 containers, as serde_json (its recursion limit of 128 refuses
/// the 128th). Found by the `json` fuzz target's differential (128 was accepted here).
const MAX_DEPTH: usize = 127;
/// Objects with more members than this are checked for repeated names by sorting.
const SORT_NAMES_FROM: usize = 16;

/// The JSON type of a scanned value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

/// A well-formed value inside the scanned bytes: its kind and where its text is. For a
/// string, the text between the quotes (escapes unresolved); for the others, the whole value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    kind: Kind,
    /// A string holding at least one `\` escape (its text is not its value).
    escaped: bool,
    start: u32,
    end: u32,
}

impl Span {
    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    /// Where the text is in the scanned bytes (for a string, between the quotes).
    pub(crate) fn range(&self) -> core::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    fn text<'b>(&self, src: &'b [u8]) -> &'b [u8] {
        src.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

/// Why a document was refused, and the byte offset where that was noticed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JsonError {
    problem: &'static str,
    at: usize,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.problem, self.at)
    }
}

/// Scans `src` as exactly one JSON object (whitespace around it allowed) and calls `visit` with
/// each top-level member's name (escapes resolved) and value. The spans only mean something if
/// this returns `Ok`: a later repeat or syntax error refuses the whole document.
pub(crate) fn scan_object(src: &[u8], mut visit: impl FnMut(&[u8], Span)) -> Result<(), JsonError> {
    let mut s = Scanner::new(src)?;
    s.skip_ws();
    if s.peek() != Some(b'{') {
        return s.fail("not a json object");
    }
    s.object(1, |name, value| {
        visit(name, value);
        Flow::Continue
    })?;
    s.skip_ws();
    if s.pos != src.len() {
        return s.fail("trailing characters after the object");
    }
    Ok(())
}

/// The value of the top-level member `name` of the object `src` starts with, reading nothing
/// after that member. `None` if `src` does not start with an object, if the object ends
/// without such a member, or if anything up to and including its value is malformed
/// (including a repeated member name before it).
pub(crate) fn leading_member(src: &[u8], name: &[u8]) -> Option<Span> {
    let mut s = Scanner::new(src).ok()?;
    s.skip_ws();
    if s.peek() != Some(b'{') {
        return None;
    }
    let mut found = None;
    s.object(1, |n, value| {
        if n == name {
            found = Some(value);
            Flow::Stop
        } else {
            Flow::Continue
        }
    })
    .ok()?;
    found
}

/// Scans `src` as exactly one JSON value of any kind (whitespace around it allowed), with the
/// same strictness as [`scan_object`], and returns it for reading: configuration documents
/// (arrays of rules, JWKS, feeds) are read through [`Node`] without building a tree.
pub(crate) fn parse(src: &[u8]) -> Result<Node<'_>, JsonError> {
    let mut s = Scanner::new(src)?;
    s.skip_ws();
    let span = s.value(0)?;
    s.skip_ws();
    if s.pos != src.len() {
        return s.fail("trailing characters after the value");
    }
    Ok(Node { src, span })
}

/// A value inside a document [`parse`] accepted. Reading it never fails on syntax (that was
/// checked); the accessors return `None` when the value is not of the asked kind.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node<'b> {
    src: &'b [u8],
    span: Span,
}

impl<'b> Node<'b> {
    pub(crate) fn kind(self) -> Kind {
        self.span.kind
    }

    /// A string's value, escapes resolved.
    pub(crate) fn as_str(self) -> Option<Cow<'b, str>> {
        string(self.src, self.span)
    }

    /// A number's text as written (`-1.5e3`). Only the fuzzing harness asks (native).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn number_text(self) -> Option<&'b str> {
        number(self.src, self.span)
    }

    /// A number written as a plain non-negative integer that fits a `u64` (`10`, not `10.0`,
    /// `1e1` or `-0`).
    pub(crate) fn as_u64(self) -> Option<u64> {
        let text = number(self.src, self.span)?;
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok()
    }

    pub(crate) fn as_bool(self) -> Option<bool> {
        match (self.span.kind, self.span.text(self.src)) {
            (Kind::Bool, b"true") => Some(true),
            (Kind::Bool, _) => Some(false),
            _ => None,
        }
    }

    /// An array's elements in order (`None` if this is not an array).
    pub(crate) fn items(self) -> Option<impl Iterator<Item = Node<'b>>> {
        let src = self.src;
        (self.span.kind == Kind::Array)
            .then(|| items(src, self.span).map(move |span| Node { src, span }))
    }

    /// An object's members in order, names with escapes resolved (`None` if this is not an
    /// object). Names are unique: [`parse`] refused repeats.
    pub(crate) fn members(self) -> Option<Members<'b>> {
        (self.span.kind == Kind::Object).then(|| Members {
            scanner: Scanner::inside(self.src, self.span),
            done: false,
        })
    }

    /// The member `name` of an object (`None` if absent or if this is not an object).
    pub(crate) fn get(self, name: &str) -> Option<Node<'b>> {
        self.members()?.find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The member `name` of an object with `null` counted as absent (for optional members).
    pub(crate) fn present(self, name: &str) -> Option<Node<'b>> {
        self.get(name).filter(|v| v.kind() != Kind::Null)
    }

    /// An array of strings, escapes resolved (`None` if this is not an array or an element is
    /// not a string).
    pub(crate) fn as_strings(self) -> Option<Vec<String>> {
        self.items()?
            .map(|v| v.as_str().map(Cow::into_owned))
            .collect()
    }

    /// This value as a configuration object whose members are all in `fields`; otherwise the
    /// problem in words (`must be an object`, `unknown field "jwks_uri" (expected one of …)`).
    pub(crate) fn config_object(self, fields: &[&str]) -> Result<Node<'b>, String> {
        if self.kind() != Kind::Object {
            return Err("must be an object".to_owned());
        }
        match self.unknown_member(fields) {
            Some(name) => Err(format!(
                "unknown field {name:?} (expected one of {})",
                fields.join(", ")
            )),
            None => Ok(self),
        }
    }

    /// The first member of an object whose name is not in `known` (configuration objects refuse
    /// fields they do not define: a typo must not silently mean the default).
    pub(crate) fn unknown_member(self, known: &[&str]) -> Option<Cow<'b, str>> {
        self.members()?
            .map(|(name, _)| name)
            .find(|name| !known.contains(&name.as_ref()))
    }
}

/// Iterator over an object's members; see [`Node::members`].
pub(crate) struct Members<'b> {
    scanner: Scanner<'b>,
    done: bool,
}

impl<'b> Iterator for Members<'b> {
    type Item = (Cow<'b, str>, Node<'b>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let s = &mut self.scanner;
        s.skip_ws();
        // The object was checked when the document was parsed: a failure here cannot happen,
        // and would end the iteration rather than yield a wrong member.
        let member = (|| {
            if s.peek() != Some(b'"') {
                return None;
            }
            let (start, end, escaped) = s.string().ok()?;
            let name = string(
                s.src,
                Span {
                    kind: Kind::String,
                    escaped,
                    start: start as u32,
                    end: end as u32,
                },
            )?;
            s.skip_ws();
            if s.peek() != Some(b':') {
                return None;
            }
            s.pos += 1;
            s.skip_ws();
            let span = s.value(1).ok()?;
            s.skip_ws();
            if s.peek() == Some(b',') {
                s.pos += 1;
            }
            Some((name, Node { src: s.src, span }))
        })();
        if member.is_none() {
            self.done = true;
        }
        member
    }
}

/// Reads of configuration members, with the problem in words. `member` is what the caller
/// looked up (`get`, or `present` where `null` means absent); `None` stays `None`.
pub(crate) fn string_member(
    member: Option<Node<'_>>,
    name: &str,
) -> Result<Option<String>, String> {
    member
        .map(|v| {
            v.as_str()
                .map(Cow::into_owned)
                .ok_or_else(|| format!("{name} must be a string"))
        })
        .transpose()
}

/// See [`string_member`]: an array of strings.
pub(crate) fn strings_member(
    member: Option<Node<'_>>,
    name: &str,
) -> Result<Option<Vec<String>>, String> {
    member
        .map(|v| {
            v.as_strings()
                .ok_or_else(|| format!("{name} must be a list of strings"))
        })
        .transpose()
}

/// See [`string_member`]: one of the named values in `options`.
pub(crate) fn choice_member<T: Copy>(
    member: Option<Node<'_>>,
    name: &str,
    options: &[(&str, T)],
) -> Result<Option<T>, String> {
    member
        .map(|v| {
            let chosen = v
                .as_str()
                .and_then(|s| options.iter().find(|(o, _)| *o == s));
            chosen.map(|(_, t)| *t).ok_or_else(|| {
                let names: Vec<&str> = options.iter().map(|(o, _)| *o).collect();
                format!("{name} must be one of {}", names.join(", "))
            })
        })
        .transpose()
}

/// A member a configuration object must have: "{name} is required" when absent.
pub(crate) fn required<T>(read: Result<Option<T>, String>, name: &str) -> Result<T, String> {
    read?.ok_or_else(|| format!("{name} is required"))
}

/// A string value with its escapes resolved, borrowed when it has none. `None` if `v` is not
/// a string of `src`.
pub(crate) fn string<'b>(src: &'b [u8], v: Span) -> Option<Cow<'b, str>> {
    if v.kind != Kind::String {
        return None;
    }
    let text = v.text(src);
    if v.escaped {
        String::from_utf8(unescape(text)?).ok().map(Cow::Owned)
    } else {
        core::str::from_utf8(text).ok().map(Cow::Borrowed)
    }
}

/// A number's text as written (`-1.5e3`). `None` if `v` is not a number of `src`.
pub(crate) fn number(src: &[u8], v: Span) -> Option<&str> {
    if v.kind != Kind::Number {
        return None;
    }
    core::str::from_utf8(v.text(src)).ok()
}

/// The elements of an array value, in order (empty if `v` is not an array of `src`).
pub(crate) fn items(src: &[u8], v: Span) -> Items<'_> {
    let is_array = v.kind == Kind::Array;
    Items {
        scanner: Scanner::inside(src, v),
        done: !is_array,
    }
}

/// Iterator over an array's elements; see [`items`].
pub(crate) struct Items<'b> {
    scanner: Scanner<'b>,
    done: bool,
}

impl Iterator for Items<'_> {
    type Item = Span;

    fn next(&mut self) -> Option<Span> {
        if self.done {
            return None;
        }
        let s = &mut self.scanner;
        s.skip_ws();
        if matches!(s.peek(), Some(b']') | None) {
            self.done = true;
            return None;
        }
        // The array was checked when the document was scanned: a failure here cannot happen,
        // and would end the iteration rather than yield a wrong element.
        let Ok(item) = s.value(1) else {
            self.done = true;
            return None;
        };
        s.skip_ws();
        if s.peek() == Some(b',') {
            s.pos += 1;
        }
        Some(item)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

struct Scanner<'b> {
    src: &'b [u8],
    pos: usize,
    /// Member names of the objects being scanned, innermost last; escapes resolved (the rare
    /// escaped name is the only thing copied).
    names: Vec<Cow<'b, [u8]>>,
}

impl<'b> Scanner<'b> {
    fn new(src: &'b [u8]) -> Result<Self, JsonError> {
        // Spans hold u32 offsets; nothing this crate scans comes near 4 GiB.
        if u32::try_from(src.len()).is_err() {
            return Err(JsonError {
                problem: "document too large",
                at: 0,
            });
        }
        Ok(Scanner {
            src,
            pos: 0,
            names: Vec::new(),
        })
    }

    /// Just inside the opening bracket of an array or object already scanned (for reading it
    /// again: its members or items).
    fn inside(src: &'b [u8], container: Span) -> Self {
        Scanner {
            src,
            pos: container.start as usize + 1,
            names: Vec::new(),
        }
    }

    fn fail<T>(&self, problem: &'static str) -> Result<T, JsonError> {
        Err(JsonError {
            problem,
            at: self.pos,
        })
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn span(&self, kind: Kind, start: usize, end: usize, escaped: bool) -> Span {
        // Both offsets are at most `src.len()`, checked to fit in u32 by `new`.
        Span {
            kind,
            escaped,
            start: start as u32,
            end: end as u32,
        }
    }

    /// One value starting at `pos` (whitespace already skipped), inside `depth` containers.
    fn value(&mut self, depth: usize) -> Result<Span, JsonError> {
        let start = self.pos;
        let kind = match self.peek() {
            Some(b'"') => {
                let (s, e, escaped) = self.string()?;
                return Ok(self.span(Kind::String, s, e, escaped));
            }
            Some(b'{') => {
                self.object(depth + 1, |_, _| Flow::Continue)?;
                Kind::Object
            }
            Some(b'[') => {
                self.array(depth + 1)?;
                Kind::Array
            }
            Some(b't') => {
                self.literal(b"true")?;
                Kind::Bool
            }
            Some(b'f') => {
                self.literal(b"false")?;
                Kind::Bool
            }
            Some(b'n') => {
                self.literal(b"null")?;
                Kind::Null
            }
            Some(b'-' | b'0'..=b'9') => {
                self.number()?;
                Kind::Number
            }
            Some(_) => return self.fail("expected a value"),
            None => return self.fail("unexpected end of input"),
        };
        Ok(self.span(kind, start, self.pos, false))
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), JsonError> {
        if self.src[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            self.fail("invalid literal")
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, and finite as an f64 (serde_json
    /// refuses `1e400` too).
    fn number(&mut self) -> Result<(), JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.fail("invalid number"),
        }
        let mut plain = true;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            plain = false;
            if self.digits() == 0 {
                return self.fail("invalid number");
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            plain = false;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return self.fail("invalid number");
            }
        }
        // A plain integer of up to 300 digits is always a finite f64.
        if !plain || self.pos - start > 300 {
            let text = core::str::from_utf8(&self.src[start..self.pos]).unwrap_or_default();
            if !number::Decimal::read(text).is_finite_f64() {
                return self.fail("number out of range");
            }
        }
        Ok(())
    }

    /// At an opening quote: the contents' span and whether they hold escapes.
    fn string(&mut self) -> Result<(usize, usize, bool), JsonError> {
        self.pos += 1;
        let start = self.pos;
        let (mut escaped, mut non_ascii) = (false, false);
        loop {
            // Skip the run of plain printable ASCII in one go.
            let rest = &self.src[self.pos..];
            self.pos += rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b))
                .unwrap_or(rest.len());
            match self.peek() {
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                Some(0x80..) => {
                    non_ascii = true;
                    self.pos += 1;
                }
                Some(_) => return self.fail("control character in a string"),
                None => return self.fail("unterminated string"),
            }
        }
        let end = self.pos;
        self.pos += 1;
        // Quotes and escapes are ASCII, so a multi-byte character never straddles the ends.
        if non_ascii && core::str::from_utf8(&self.src[start..end]).is_err() {
            return Err(JsonError {
                problem: "string is not utf-8",
                at: start,
            });
        }
        Ok((start, end, escaped))
    }

    /// At a `\`: one escape; `\u` surrogates must come in a high-low pair.
    fn escape(&mut self) -> Result<(), JsonError> {
        self.pos += 1;
        match self.peek() {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos += 1;
                Ok(())
            }
            Some(b'u') => {
                self.pos += 1;
                match self.hex4()? {
                    0xD800..=0xDBFF => {
                        if self.src.get(self.pos..self.pos + 2) != Some(b"\\u") {
                            return self.fail("unpaired surrogate in an escape");
                        }
                        self.pos += 2;
                        if !(0xDC00..=0xDFFF).contains(&self.hex4()?) {
                            return self.fail("unpaired surrogate in an escape");
                        }
                        Ok(())
                    }
                    0xDC00..=0xDFFF => self.fail("unpaired surrogate in an escape"),
                    _ => Ok(()),
                }
            }
            _ => self.fail("invalid escape"),
        }
    }

    fn hex4(&mut self) -> Result<u16, JsonError> {
        match self.src.get(self.pos..self.pos + 4).and_then(hex4) {
            Some(v) => {
                self.pos += 4;
                Ok(v)
            }
            None => self.fail("invalid \\u escape"),
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return self.fail("nested too deeply");
        }
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.value(depth)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return self.fail("expected ',' or ']'"),
            }
        }
    }

    /// At a `{`: the object's members, each passed to `visit` until it says stop; no name
    /// may repeat.
    fn object(
        &mut self,
        depth: usize,
        mut visit: impl FnMut(&[u8], Span) -> Flow,
    ) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return self.fail("nested too deeply");
        }
        self.pos += 1;
        let base = self.names.len();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return self.fail("expected a member name");
            }
            let (s, e, escaped) = self.string()?;
            let raw = &self.src[s..e];
            let name = if escaped {
                Cow::Owned(unescape(raw).unwrap_or_default())
            } else {
                Cow::Borrowed(raw)
            };
            self.skip_ws();
            if self.peek() != Some(b':') {
                return self.fail("expected ':'");
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value(depth)?;
            let flow = visit(&name, value);
            // Small objects (every real token) are checked as each name arrives; a flood of
            // members is sorted once at the end instead, so it costs n·log n, not n².
            let seen = &self.names[base..];
            if seen.len() < SORT_NAMES_FROM && seen.contains(&name) {
                return self.fail("repeated member name");
            }
            if flow == Flow::Stop && seen.len() < SORT_NAMES_FROM {
                // Compared with every earlier name already: nothing to keep.
                return self.unique_names(base);
            }
            if self.names.capacity() == 0 {
                // Allocated on the first member kept, at a size that fits every real token.
                self.names.reserve(SORT_NAMES_FROM);
            }
            self.names.push(name);
            if flow == Flow::Stop {
                return self.unique_names(base);
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b'}') => {
                    self.pos += 1;
                    return self.unique_names(base);
                }
                _ => return self.fail("expected ',' or '}'"),
            }
        }
    }

    fn unique_names(&mut self, base: usize) -> Result<(), JsonError> {
        let names = &mut self.names[base..];
        // Up to SORT_NAMES_FROM names were all compared on arrival.
        let repeated = names.len() > SORT_NAMES_FROM && {
            names.sort_unstable();
            names.windows(2).any(|w| w[0] == w[1])
        };
        self.names.truncate(base);
        if repeated {
            return self.fail("repeated member name");
        }
        Ok(())
    }
}

fn hex4(digits: &[u8]) -> Option<u16> {
    digits.iter().try_fold(0u16, |acc, &c| {
        let d = (c as char).to_digit(16)?;
        Some(acc << 4 | d as u16)
    })
}

/// Resolves the escapes of a string's text (already checked by the scanner) to UTF-8 bytes.
fn unescape(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let c = match text.get(i + 1)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = hex4(text.get(i + 2..i + 6)?)?;
                i += 4;
                if (0xD800..=0xDBFF).contains(&hi) {
                    if text.get(i + 2..i + 4)? != b"\\u" {
                        return None;
                    }
                    let lo = hex4(text.get(i + 4..i + 8)?)?;
                    if !(0xDC00..=0xDFFF).contains(&lo) {
                        return None;
                    }
                    i += 6;
                    char::from_u32(0x10000 + ((hi as u32 - 0xD800) << 10) + (lo as u32 - 0xDC00))?
                } else {
                    char::from_u32(hi as u32)?
                }
            }
            _ => return None,
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        i += 2;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(src: &str) -> Result<Vec<(String, Kind)>, JsonError> {
        let mut out = Vec::new();
        scan_object(src.as_bytes(), |n, v| {
            out.push((String::from_utf8(n.to_vec()).unwrap(), v.kind()))
        })?;
        Ok(out)
    }

    fn str_member(src: &str, name: &str) -> Option<String> {
        let mut found = None;
        scan_object(src.as_bytes(), |n, v| {
            if n == name.as_bytes() {
                found = Some(v)
            }
        })
        .ok()?;
        string(src.as_bytes(), found?).map(Cow::into_owned)
    }

    /// This scanner and serde_json accept and refuse the same documents — except that this one
    /// also refuses a repeated member name — on seeds and every one-byte truncation, deletion
    /// and substitution of them. `scan_object` is `parse` restricted to objects.
    #[test]
    fn agrees_with_serde_json_except_on_repeated_names() {
        let seeds: [&[u8]; 8] = [
            br#"{"alg":"HS256","kid":"k1","typ":"JWT"}"#,
            br#"{"iss":"https://i.example","aud":["a","b"],"exp":1893456600.5,"nbf":-0,"x":null,"y":true,"z":false}"#,
            br#" {"a":{"b":[1,2,{"c":"\u00e9\ud83d\ude00\n"}]},"e":1e-3,"f":"\"\\\/"} "#,
            br#"{"sub":"\u0073","s":"\u0073ub"}"#,
            "{\"é\":\"ü\"}".as_bytes(),
            br#"{"a":[[],{}],"b":0,"c":-12.5E+2}"#,
            br#"[{"id":"api","path":"/api/**","access":{"permissions":["a:b"]}},"x",7]"#,
            br#"{"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"HS256"}],"n":[true,null]}"#,
        ];
        let replacements = b"{}[]\",:\\u0123456789abcdefABCDEF-+.eE tnrfx \x01\x7f\xc3\xa9\xff";
        let mut refused_only_for_repeats = 0;
        let mut agree = |doc: &[u8]| {
            let ours = parse(doc);
            let theirs = serde_json::from_slice::<serde_json::Value>(doc).is_ok();
            match &ours {
                Err(e) if theirs && e.problem == "repeated member name" => {
                    refused_only_for_repeats += 1
                }
                _ => assert_eq!(ours.is_ok(), theirs, "{:?}", String::from_utf8_lossy(doc)),
            }
            let object = ours.is_ok_and(|v| v.kind() == Kind::Object);
            assert_eq!(scan_object(doc, |_, _| {}).is_ok(), object);
        };
        let mut checked = 0;
        for seed in seeds {
            agree(seed);
            for i in 0..seed.len() {
                agree(&seed[..i]);
                let mut deleted = seed.to_vec();
                deleted.remove(i);
                agree(&deleted);
                for &r in replacements {
                    let mut changed = seed.to_vec();
                    changed[i] = r;
                    agree(&changed);
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000);
        // Substituting one byte of a name does make repeats ("kid" → "alg"-like clashes).
        assert!(refused_only_for_repeats > 0);
    }

    /// The depth limit is serde_json's, to the container, for arrays, objects and both mixed
    /// (the `json` fuzz target found 128 containers accepted here and refused by serde_json;
    /// the inputs are kept in fuzz/regressions/json/).
    #[test]
    fn nesting_limit_agrees_with_serde_json() {
        let regressions = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/regressions/json");
        let mut docs: Vec<Vec<u8>> = std::fs::read_dir(regressions)
            .expect("fuzz/regressions/json")
            .map(|f| std::fs::read(f.unwrap().path()).unwrap())
            .collect();
        assert!(!docs.is_empty());
        for n in 125..=130 {
            docs.push(format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes());
            docs.push(format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n)).into_bytes());
            docs.push(format!("{}1{}", "{\"a\":[".repeat(n / 2), "]}".repeat(n / 2)).into_bytes());
        }
        for doc in &docs {
            let theirs = serde_json::from_slice::<serde_json::Value>(doc).is_ok();
            assert_eq!(
                parse(doc).is_ok(),
                theirs,
                "{}",
                String::from_utf8_lossy(doc)
            );
            let object = doc.first() == Some(&b'{');
            assert_eq!(scan_object(doc, |_, _| {}).is_ok(), theirs && object);
        }
    }

    #[test]
    fn nodes_read_what_was_parsed() {
        let doc = br#" {"n":10,"big":18446744073709551615,"over":18446744073709551616,"f":1.0,"e":1e1,"neg":-1,
            "s":"a\u0062c","t":true,"no":false,"z":null,"a":[1,"x",{"k":[]}],"o":{"\u0069d":"v"}} "#;
        let v = parse(doc).unwrap();
        assert_eq!(v.kind(), Kind::Object);
        let get = |n: &str| v.get(n).unwrap();
        assert_eq!(get("n").as_u64(), Some(10));
        assert_eq!(get("big").as_u64(), Some(u64::MAX));
        for n in ["over", "f", "e", "neg", "s", "t", "z", "a"] {
            assert_eq!(get(n).as_u64(), None, "{n}");
        }
        assert_eq!(get("s").as_str().as_deref(), Some("abc"));
        assert_eq!(get("n").as_str(), None);
        assert_eq!(
            (get("t").as_bool(), get("no").as_bool()),
            (Some(true), Some(false))
        );
        assert_eq!(get("z").as_bool(), None);
        assert_eq!(get("z").kind(), Kind::Null);
        let items: Vec<Kind> = get("a").items().unwrap().map(Node::kind).collect();
        assert_eq!(items, [Kind::Number, Kind::String, Kind::Object]);
        assert!(get("o").items().is_none() && get("a").members().is_none());
        // Member names resolve their escapes; `get` finds by the resolved name.
        assert_eq!(
            get("o").get("id").and_then(Node::as_str).as_deref(),
            Some("v")
        );
        let names: Vec<String> = v.members().unwrap().map(|(n, _)| n.into_owned()).collect();
        assert_eq!(
            names,
            ["n", "big", "over", "f", "e", "neg", "s", "t", "no", "z", "a", "o"]
        );
        assert!(v.get("missing").is_none());
        assert_eq!(parse(b"{}").unwrap().members().unwrap().count(), 0);
        assert_eq!(parse(b" [ ] ").unwrap().items().unwrap().count(), 0);
        // Any value may be the document; nothing may follow it.
        assert_eq!(parse(b"\"x\"").unwrap().as_str().as_deref(), Some("x"));
        assert_eq!(parse(b"7").unwrap().as_u64(), Some(7));
        for bad in [
            &b""[..],
            b"1 2",
            b"[] []",
            b"{\"a\":1,\"a\":2}",
            b"[{\"a\":1,\"a\":1}]",
            b"nul",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_well_formed_object_reports_its_top_level_members() {
        let got = members(
            r#" { "a" : 1, "b":[true,false,null,{"a":"x"}], "c":{"d":-1.5e3}, "e":"\u00e9\n" } "#,
        )
        .unwrap();
        assert_eq!(
            got,
            [
                ("a".to_owned(), Kind::Number),
                ("b".to_owned(), Kind::Array),
                ("c".to_owned(), Kind::Object),
                ("e".to_owned(), Kind::String),
            ]
        );
        assert_eq!(members("{}").unwrap(), []);
    }

    #[test]
    fn repeated_member_names_are_refused_at_any_depth() {
        for bad in [
            r#"{"a":1,"a":1}"#,
            r#"{"a":1,"b":2,"a":3}"#,
            r#"{"a":{"b":1,"b":2}}"#,
            r#"{"a":[{"b":1,"b":2}]}"#,
            // An escaped spelling of a name is the same name.
            r#"{"alg":"HS256","\u0061lg":"none"}"#,
            r#"{"id":"a","\u0069d":"b"}"#,
            r#"{"\u00e9":1,"é":2}"#,
            r#"{"\ud83d\ude00":1,"😀":2}"#,
        ] {
            assert!(members(bad).is_err(), "{bad}");
        }
        // Same names in different objects are fine.
        assert!(members(r#"{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}"#).is_ok());
        // A flood of distinct names passes, a flood with one repeat does not.
        let many: Vec<String> = (0..2000).map(|i| format!("\"k{i}\":{i}")).collect();
        assert!(members(&format!("{{{}}}", many.join(","))).is_ok());
        assert!(members(&format!("{{{},\"k7\":0}}", many.join(","))).is_err());
        // Around the switch from comparing on arrival to sorting at the end.
        for n in [15, 16, 17, 18] {
            let names: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{i}")).collect();
            let doc = names.join(",");
            assert!(members(&format!("{{{doc}}}")).is_ok(), "{n}");
            assert!(members(&format!("{{{doc},\"k0\":0}}")).is_err(), "{n}");
            assert!(
                members(&format!("{{\"k{}\":0,{doc}}}", n - 1)).is_err(),
                "{n}"
            );
        }
    }

    #[test]
    fn only_a_single_well_formed_object_is_accepted() {
        for bad in [
            "",
            " ",
            "[]",
            "1",
            "\"x\"",
            "null",
            "{} {}",
            "{}x",
            "{",
            "}",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{,}",
            "{\"a\" 1}",
            "{\"a\":1 \"b\":2}",
            "{'a':1}",
            "{a:1}",
            "{\"a\":[1,]}",
            "{\"a\":[1 2]}",
            "{\"a\":tru}",
            "{\"a\":nul}",
            "{\"a\":True}",
            "{\"a\":01}",
            "{\"a\":-}",
            "{\"a\":1.}",
            "{\"a\":.5}",
            "{\"a\":1e}",
            "{\"a\":+1}",
            "{\"a\":1e400}",
            "{\"a\":-1e400}",
            "{\"a\":NaN}",
            "{\"a\":\"\u{1}\"}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\u12\"}",
            "{\"a\":\"\\ud800\"}",
            "{\"a\":\"\\udc00\"}",
            "{\"a\":\"\\ud800\\u0041\"}",
            "{\"a\":\"unterminated}",
            "\u{feff}{}",
            "{\"a\":1}\u{0}",
        ] {
            assert!(members(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(
            scan_object(b"{\"a\":\"\xff\"}", |_, _| {}).is_err(),
            "not utf-8"
        );
        assert!(
            scan_object(b"{\"\xc3\":1}", |_, _| {}).is_err(),
            "truncated utf-8"
        );
        for ok in [
            "{\"a\":0}",
            "{\"a\":-0}",
            "{\"a\":1.5E+3}",
            "{\"a\":1e-400}",
            "\t\n\r{}\n",
            "{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
        ] {
            assert!(members(ok).is_ok(), "{ok:?} must pass");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n), "]".repeat(n));
        assert!(members(&deep(126)).is_ok());
        assert!(members(&deep(127)).is_err());
        // Deep nesting never overflows the stack: it is refused at the limit.
        assert!(members(&deep(100_000)).is_err());
    }

    #[test]
    fn truncated_documents_are_refused_wherever_they_stop() {
        let doc = r#"{"id":"evt_1","n":[1,2.5,{"x":"\u00e9"}],"t":true,"z":null}"#;
        assert!(members(doc).is_ok());
        for end in 0..doc.len() {
            if doc.is_char_boundary(end) {
                assert!(members(&doc[..end]).is_err(), "{:?}", &doc[..end]);
            }
        }
    }

    #[test]
    fn strings_resolve_their_escapes() {
        let doc = r#"{"a":"plain","b":"\u0069d","c":"\ud83d\ude00 \"q\" \\ \/","d":1}"#;
        assert_eq!(str_member(doc, "a").as_deref(), Some("plain"));
        assert_eq!(str_member(doc, "b").as_deref(), Some("id"));
        assert_eq!(str_member(doc, "c").as_deref(), Some("😀 \"q\" \\ /"));
        assert_eq!(str_member(doc, "d"), None, "a number is not a string");
        // A member whose name is spelled with an escape is found by its value.
        assert_eq!(
            str_member(r#"{"\u0069ss":"x"}"#, "iss").as_deref(),
            Some("x")
        );
    }

    #[test]
    fn array_items_are_listed_in_order() {
        let doc = br#"{"a":[ "x" , 1 ,{"b":[2]}, [] ,"y"],"e":[]}"#;
        let mut spans = Vec::new();
        scan_object(doc, |_, v| spans.push(v)).unwrap();
        let kinds: Vec<Kind> = items(doc, spans[0]).map(|s| s.kind()).collect();
        assert_eq!(
            kinds,
            [
                Kind::String,
                Kind::Number,
                Kind::Object,
                Kind::Array,
                Kind::String
            ]
        );
        let last = items(doc, spans[0]).last().unwrap();
        assert_eq!(string(doc, last).as_deref(), Some("y"));
        assert_eq!(items(doc, spans[1]).count(), 0);
        let n = items(doc, spans[0]).nth(1).unwrap();
        assert_eq!(number(doc, n), Some("1"));
    }

    #[test]
    fn leading_member_stops_at_the_member() {
        let id = |doc: &str| {
            leading_member(doc.as_bytes(), b"id")
                .and_then(|v| string(doc.as_bytes(), v))
                .map(Cow::into_owned)
        };
        assert_eq!(
            id(r#"{"id":"evt_1","object":"event"}"#).as_deref(),
            Some("evt_1")
        );
        // Nothing after the member is read.
        assert_eq!(
            id(r#"{"id":"evt_1", this is not json"#).as_deref(),
            Some("evt_1")
        );
        // Members before it are checked, nested ids are not the top-level id.
        assert_eq!(
            id(r#"{"data":{"id":"inner"},"list":[{"id":"x"}],"id":"evt_2"}"#).as_deref(),
            Some("evt_2")
        );
        assert_eq!(id(r#"{"data":{"id":"inner"}}"#), None);
        assert_eq!(id(r#"{"\u0069d":"evt_3"}"#).as_deref(), Some("evt_3"));
        for bad in [
            "",
            "[]",
            "x",
            r#"{"a":1,"a":2,"id":"evt_1"}"#,
            r#"{"a":{"b":1,"b":2},"id":"evt_1"}"#,
            r#"{"a":tru,"id":"evt_1"}"#,
            r#"{"a" "id":"evt_1"}"#,
            r#"{"id":"evt_"#,
            r#"{"id""#,
            r#"{"id":"#,
            r#"{"i"#,
            "{",
        ] {
            assert_eq!(id(bad), None, "{bad:?}");
        }
        // A repeat before the member is caught however many members precede it.
        for n in [3, 15, 16, 17, 40] {
            let before: String = (0..n).map(|i| format!("\"k{i}\":{i},")).collect();
            let doc = format!("{{{before}\"id\":\"x\"}}");
            assert!(leading_member(doc.as_bytes(), b"id").is_some(), "{n}");
            let doc = format!("{{{before}\"k1\":9,\"id\":\"x\"}}");
            assert_eq!(leading_member(doc.as_bytes(), b"id"), None, "{n}");
        }
        // A non-string id is found as such: the caller refuses it.
        let doc = br#"{"id":42}"#;
        assert_eq!(
            leading_member(doc, b"id").map(|v| v.kind()),
            Some(Kind::Number)
        );
    }
}
