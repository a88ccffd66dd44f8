//! Keeping each finding once across the passes of the fix loop: a cheap hash of what a
//! report shows, and the full comparison for equal hashes.

use crate::finding::Finding;

/// The hash of what [`same_report`] compares, without building the strings it compares.
pub(super) fn report_hash(f: &Finding) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    // The resource as `ResourceRef::display` writes it (`Kind/namespace/name`), fed in
    // pieces: the hasher reads a byte stream, so this is the hash of the display string.
    let r = &f.resource;
    h.write(r.kind.as_bytes());
    if let Some(ns) = &r.namespace {
        h.write(b"/");
        h.write(ns.as_bytes());
    }
    h.write(b"/");
    h.write(r.name.as_bytes());
    for part in [f.rule, &f.path, &f.message] {
        h.write(&[0xff]); // no UTF-8 text holds this byte: parts cannot run together
        h.write(part.as_bytes());
    }
    h.0
}

/// FNV-1a over a byte stream (pieces hash like their concatenation). Equal hashes are
/// compared in full ([`same_report`]), so the hash only needs to be cheap and spread well.
struct Fnv(u64);

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// Two findings report the same thing: same rule, path, message and resource as displayed.
pub(super) fn same_report(a: &Finding, b: &Finding) -> bool {
    a.rule == b.rule
        && a.path == b.path
        && a.message == b.message
        && (a.resource.kind == b.resource.kind
            && a.resource.namespace == b.resource.namespace
            && a.resource.name == b.resource.name
            || a.resource.display() == b.resource.display())
}
