//! Secret rules: plaintext Secrets rendered by the chart (report-only; values never read
//! into a report).

use crate::rules::Rule;

mod plaintext_secret;

/// The rules of this group.
pub fn rules() -> Vec<Box<dyn Rule>> {
    vec![Box::new(plaintext_secret::PlaintextSecret)]
}
