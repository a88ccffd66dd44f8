//! Image rules: pin tags to verified digests.

use crate::rules::Rule;

mod pin_digest;

// The old path, still used by the pipeline (another helper's file); the fact lives in inventory.

/// The rules of this group.
pub fn rules() -> Vec<Box<dyn Rule>> {
    vec![Box::new(pin_digest::PinDigest)]
}
