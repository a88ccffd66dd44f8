//! Image rules: pin tags to verified digests.

use crate::rules::Rule;

mod pin_digest;

// The old path, still used by the pipeline (another helper's file); the fact lives in inventory.
pub use crate::inventory::images::image_fields;

/// The rules of this group.
pub fn rules() -> Vec<Box<dyn Rule>> {
    vec![Box::new(pin_digest::PinDigest)]
}
