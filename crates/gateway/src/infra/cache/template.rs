//! A serialized answer with holes where variants' availability goes.
//!
//! Product documents and list pages are cached per edit; availability changes per sale. So
//! what is cached is the JSON with each variant's `available` number left out, and the ids
//! of the variants whose numbers go in, in order. Each response fills the holes from the
//! per-variant availability entries ([`super::ProductCache::get_stock`]): a sale changes one
//! small entry, and no cached document or page is recomputed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::{BufMut, Bytes, BytesMut};
use sha2::{Digest, Sha256};

/// JSON with holes for availability figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Template {
    /// The JSON, without the figures.
    pub body: Bytes,
    /// Byte offsets in `body` where each figure goes, ascending, one per variant id.
    pub holes: Vec<u32>,
    /// The variant whose figure goes in each hole.
    pub variant_ids: Vec<String>,
}

/// What a serialized document holds in place of a figure while it is made into a template:
/// a number no availability can be, after a key no string can contain unescaped.
pub const MARK: i64 = i64::MIN;
const MARKED: &[u8] = b"\"available\":-9223372036854775808";
const MARK_DIGITS: usize = "-9223372036854775808".len();

impl Template {
    /// Cuts the marked figures out of `json`, which holds one per id of `variant_ids`, in order.
    /// `None` if the marks do not match the ids (a document shape this code does not know).
    pub fn cut(json: &[u8], variant_ids: Vec<String>) -> Option<Self> {
        let mut body = Vec::with_capacity(json.len());
        let mut holes = Vec::with_capacity(variant_ids.len());
        let mut rest = json;
        while let Some(at) = find(rest, MARKED) {
            let key_end = at + MARKED.len() - MARK_DIGITS;
            body.extend_from_slice(&rest[..key_end]);
            holes.push(u32::try_from(body.len()).ok()?);
            rest = &rest[at + MARKED.len()..];
        }
        body.extend_from_slice(rest);
        (holes.len() == variant_ids.len()).then(|| Self { body: Bytes::from(body), holes, variant_ids })
    }

    /// The JSON with `figures` (aligned with the variant ids) in the holes.
    pub fn render(&self, figures: &[i64]) -> Bytes {
        let mut out = BytesMut::with_capacity(self.body.len() + 8 * self.holes.len());
        self.render_into(figures, &mut out);
        out.freeze()
    }

    /// Appends the rendered JSON to `out`.
    pub fn render_into(&self, figures: &[i64], out: &mut BytesMut) {
        let mut from = 0usize;
        let mut numbers = itoa::Buffer::new();
        for (i, hole) in self.holes.iter().enumerate() {
            let hole = *hole as usize;
            out.put_slice(&self.body[from..hole]);
            out.put_slice(numbers.format(figures.get(i).copied().unwrap_or(0)).as_bytes());
            from = hole;
        }
        out.put_slice(&self.body[from..]);
    }

    /// Stored form: the hole count, then one line per variant id and one per offset, then the
    /// body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 40 * self.holes.len() + 8);
        out.extend_from_slice(self.holes.len().to_string().as_bytes());
        out.push(b'\n');
        for (id, hole) in self.variant_ids.iter().zip(&self.holes) {
            out.extend_from_slice(id.as_bytes());
            out.push(b' ');
            out.extend_from_slice(hole.to_string().as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(&self.body);
        out
    }

    /// Parses [`Template::encode`]'s form; `None` for anything else. The body shares `raw`.
    pub fn decode(raw: &Bytes) -> Option<Self> {
        let whole = raw.as_ptr() as usize;
        let (count, mut rest) = line(raw)?;
        let count: usize = std::str::from_utf8(count).ok()?.parse().ok()?;
        let mut holes = Vec::with_capacity(count.min(10_000));
        let mut variant_ids = Vec::with_capacity(count.min(10_000));
        for _ in 0..count {
            let (entry, after) = line(rest)?;
            let (id, hole) = std::str::from_utf8(entry).ok()?.split_once(' ')?;
            variant_ids.push(id.to_owned());
            holes.push(hole.parse().ok()?);
            rest = after;
        }
        let body = raw.slice(rest.as_ptr() as usize - whole..);
        let in_order = holes.windows(2).all(|w| w[0] <= w[1]) && holes.last().is_none_or(|h| *h as usize <= body.len());
        in_order.then_some(Self { body, holes, variant_ids })
    }

    /// A strong validator of the rendered JSON: the template's own digest (`etag`, quoted)
    /// joined with a digest of the figures, without rendering.
    pub fn etag(etag: &str, figures: &[i64]) -> String {
        if figures.is_empty() {
            return etag.to_owned();
        }
        let mut hasher = Sha256::new();
        for figure in figures {
            hasher.update(figure.to_le_bytes());
        }
        let digest = hasher.finalize();
        format!("{}.{}\"", etag.trim_end_matches('"'), URL_SAFE_NO_PAD.encode(&digest[..9]))
    }
}

/// Builds a template from plain JSON and other templates (a list page made of documents).
#[derive(Default)]
pub struct Builder {
    body: BytesMut,
    holes: Vec<u32>,
    variant_ids: Vec<String>,
}

impl Builder {
    /// An empty template of about `size` bytes.
    pub fn with_capacity(size: usize) -> Self {
        Self { body: BytesMut::with_capacity(size), ..Self::default() }
    }

    /// Appends JSON without holes.
    pub fn put_slice(&mut self, json: &[u8]) {
        self.body.put_slice(json);
    }

    /// Appends a template, holes and all.
    pub fn put_template(&mut self, template: &Template) {
        let base = self.body.len() as u32;
        self.body.put_slice(&template.body);
        self.holes.extend(template.holes.iter().map(|h| h + base));
        self.variant_ids.extend(template.variant_ids.iter().cloned());
    }

    /// The template.
    pub fn finish(self) -> Template {
        Template { body: self.body.freeze(), holes: self.holes, variant_ids: self.variant_ids }
    }
}

fn line(raw: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = raw.iter().position(|b| *b == b'\n')?;
    Some((&raw[..end], &raw[end + 1..]))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_are_cut_filled_and_stored() {
        let json = br#"{"name":"\"available\":-9223372036854775808","variants":[{"id":"a","available":-9223372036854775808},{"id":"b","available":-9223372036854775808}]}"#;
        let Some(template) = Template::cut(json, vec!["var_a".into(), "var_b".into()]) else {
            unreachable!("the document holds two marks")
        };
        assert_eq!(template.holes.len(), 2);
        let rendered = template.render(&[7, 0]);
        assert_eq!(
            &rendered[..],
            br#"{"name":"\"available\":-9223372036854775808","variants":[{"id":"a","available":7},{"id":"b","available":0}]}"#
        );
        assert_eq!(Template::decode(&Bytes::from(template.encode())), Some(template.clone()));
        assert!(Template::cut(json, vec!["var_a".into()]).is_none(), "marks and ids must match");
        assert_ne!(Template::etag("\"x\"", &[7, 0]), Template::etag("\"x\"", &[6, 0]));
        assert!(Template::decode(&Bytes::from_static(b"2\nvar_a 5\n{}")).is_none());
    }
}
