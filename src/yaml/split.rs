//! Split a YAML stream into documents, keeping every byte.
//!
//! A document separator is a line that starts with `---` followed by white space or the line
//! end; a document end marker is a line that starts with `...` likewise (YAML forbids both
//! inside any scalar, so this agrees with a YAML parser). The separator line's first three
//! bytes are kept as [`Segment::marker`]; what follows them on the line belongs to the
//! document (`--- # comment`). Concatenating every segment's `marker` and `text` gives back
//! the input byte for byte.

/// One document's bytes in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Byte range of the `---` marker (empty for the first document when it has none).
    pub marker: std::ops::Range<usize>,
    /// Byte range of the document text that follows the marker.
    pub text: std::ops::Range<usize>,
}

fn is_marker_line(line: &[u8], m: &[u8; 3]) -> bool {
    line.len() >= 3
        && &line[..3] == m
        && (line.len() == 3 || matches!(line[3], b' ' | b'\t' | b'\r' | b'\n'))
}

/// Splits `input` (already stripped of a BOM) into segments.
pub fn split(input: &str) -> Vec<Segment> {
    // Only lines starting with `---` or `...` can be markers: they are found with two SIMD
    // substring searches instead of looking at every line.
    split_at(input, marker_candidates(input.as_bytes()))
}

/// [`split`], looking for markers only at the given line starts (ascending; every line that
/// starts with a marker must be among them).
fn split_at(input: &str, line_starts: impl IntoIterator<Item = usize>) -> Vec<Segment> {
    let bytes = input.as_bytes();
    let mut segs = Vec::new();
    let mut marker = 0..0;
    let mut text_start = 0;
    for line_start in line_starts {
        let line_end = match memchr::memchr(b'\n', &bytes[line_start..]) {
            Some(p) => line_start + p + 1,
            None => bytes.len(),
        };
        let line = &bytes[line_start..line_end];
        if is_marker_line(line, b"---") {
            if line_start > text_start || !marker.is_empty() {
                segs.push(Segment {
                    marker: marker.clone(),
                    text: text_start..line_start,
                });
            }
            marker = line_start..line_start + 3;
            text_start = line_start + 3;
        } else if is_marker_line(line, b"...") {
            segs.push(Segment {
                marker: marker.clone(),
                text: text_start..line_end,
            });
            marker = line_end..line_end;
            text_start = line_end;
        }
    }
    if text_start < bytes.len() || !marker.is_empty() || segs.is_empty() {
        segs.push(Segment {
            marker,
            text: text_start..bytes.len(),
        });
    }
    segs
}

/// Starts of the lines beginning with `---` or `...`, ascending.
fn marker_candidates(bytes: &[u8]) -> Vec<usize> {
    let mut all = Vec::new();
    for m in [&b"\n---"[..], b"\n..."] {
        if bytes.starts_with(&m[1..]) {
            all.push(0);
        }
        all.extend(memchr::memmem::find_iter(bytes, m).map(|p| p + 1));
    }
    all.sort_unstable();
    all
}

/// Helm 3 writes `# Source: chart/templates/x.yaml` above each document. Only a path is
/// taken (a `/`, no whitespace, `:` or `@`): the source names the document in reports and
/// errors, and a comment that says anything else may carry what a broken template spilled
/// into it (a credential, a URL with a password).
pub fn helm3_source(text: &str) -> Option<&str> {
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(rest) = t.strip_prefix("# Source:") {
            let path = rest.trim();
            let path_like = path.contains('/')
                && !path.contains(|c: char| c.is_whitespace() || c == ':' || c == '@');
            return path_like.then_some(path);
        }
        if !t.starts_with('#') {
            break;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source comment names a template path; anything else in it is not repeated.
    #[test]
    fn the_source_comment_is_a_path() {
        assert_eq!(
            helm3_source("# Source: web/templates/deployment.yaml\nkind: Pod\n"),
            Some("web/templates/deployment.yaml")
        );
        for comment in [
            "# Source: job-crpassword: hunter2-secret",
            "# Source: web/templates/x.yaml postgres://app:pw@db/app",
            "# Source: notes",
        ] {
            assert_eq!(
                helm3_source(&format!("{comment}\nkind: Pod\n")),
                None,
                "{comment}"
            );
        }
    }
    use proptest::prelude::*;

    /// Every line start: the splitter looking at each line is the reference for [`split`]'s
    /// marker search.
    fn every_line(input: &str) -> Vec<usize> {
        std::iter::once(0)
            .chain(memchr::memchr_iter(b'\n', input.as_bytes()).map(|p| p + 1))
            .filter(|&p| p < input.len())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn finds_the_markers_a_line_by_line_scan_finds(
            lines in proptest::collection::vec(
                "(---|\\.\\.\\.|--- # c|---\r|...x|----|-- -| ---|a: 1|# c|\\.\\.|)(\r)?",
                0..12,
            ),
            last_newline in any::<bool>(),
        ) {
            let mut text = lines.join("\n");
            if last_newline {
                text.push('\n');
            }
            prop_assert_eq!(split(&text), split_at(&text, every_line(&text)), "{:?}", text);
        }
    }

    fn roundtrip(s: &str) -> Vec<(String, String)> {
        let segs = split(s);
        let mut out = String::new();
        let mut parts = Vec::new();
        for g in &segs {
            out.push_str(&s[g.marker.clone()]);
            out.push_str(&s[g.text.clone()]);
            parts.push((
                s[g.marker.clone()].to_string(),
                s[g.text.clone()].to_string(),
            ));
        }
        assert_eq!(out, s, "split must keep every byte");
        parts
    }

    #[test]
    fn helm_stream() {
        let p = roundtrip("---\n# Source: a.yaml\nkind: A\n---\n# Source: b.yaml\nkind: B\n");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0], ("---".into(), "\n# Source: a.yaml\nkind: A\n".into()));
    }

    #[test]
    fn no_leading_marker_and_comments_on_marker() {
        let p = roundtrip("kind: A\n--- # two\nkind: B\n---\n");
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].1, "kind: A\n");
        assert_eq!(p[1].1, " # two\nkind: B\n");
        assert_eq!(p[2].1, "\n");
    }

    #[test]
    fn dots_and_crlf() {
        let p = roundtrip("kind: A\r\n...\r\n---\r\nkind: B\r\n");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].1, "kind: A\r\n...\r\n");
    }

    #[test]
    fn not_a_marker() {
        let p = roundtrip("a: |\n  ---x\n----\nb: ---\n");
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn empty() {
        let p = roundtrip("");
        assert_eq!(p.len(), 1);
    }
}
