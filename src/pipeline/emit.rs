//! Emit stage: the hardened stream written out, every document's marker and bytes in order
//! (untouched documents byte for byte as they came in).

use super::Outcome;
use crate::document::Stream;

impl Outcome {
    /// Writes the hardened stream: the BOM if the input had one, then every document after
    /// its marker, with a line break before a marker when the text before it did not end in
    /// one. The pieces are written as they are, not joined first: the binary writes them to
    /// stdout through a small buffer instead of copying megabytes into fresh memory (a page
    /// fault per 4 KiB) at the end of a run.
    pub fn write_to(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        write_stream(&self.stream, w)
    }

    /// The hardened stream as one buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let docs = &self.stream.docs;
        let size: usize = docs.iter().map(|d| d.marker.len() + d.text.len() + 2).sum();
        let mut out = Vec::with_capacity(size + 3);
        // Writing to a Vec cannot fail.
        let _ = self.write_to(&mut out);
        out
    }
}

/// Writes `stream` (see [`Outcome::write_to`]).
fn write_stream(stream: &Stream, w: &mut impl std::io::Write) -> std::io::Result<()> {
    if stream.bom {
        w.write_all("\u{feff}".as_bytes())?;
    }
    // The stream's line break (a CRLF stream stays CRLF).
    let nl = if uses_crlf(stream) { "\r\n" } else { "\n" };
    // The BOM is not a document: no line break is owed after it.
    let mut ends_in_newline = true;
    for d in &stream.docs {
        let (marker, text): (&str, &str) = (&d.marker, &d.text);
        if !marker.is_empty() && !ends_in_newline {
            w.write_all(nl.as_bytes())?;
        }
        w.write_all(marker.as_bytes())?;
        w.write_all(text.as_bytes())?;
        if let Some(last) = [marker, text].iter().rev().find_map(|s| s.bytes().last()) {
            ends_in_newline = last == b'\n';
        }
    }
    Ok(())
}

/// True when the stream's line ends are CRLF (judged by its first line end).
pub(super) fn uses_crlf(stream: &Stream) -> bool {
    // Markers hold no line break: the first one is in some document's text.
    stream
        .docs
        .iter()
        .find_map(|d| {
            let t = d.text.as_bytes();
            t.iter()
                .position(|&b| b == b'\n')
                .map(|i| i > 0 && t[i - 1] == b'\r')
        })
        .unwrap_or(false)
}
