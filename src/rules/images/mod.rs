//! Image rules: pin tags to verified digests.

use crate::rules::Rule;

mod pin_digest;

pub use pin_digest::image_fields;

/// The rules of this group.
pub fn rules() -> Vec<Box<dyn Rule>> {
    vec![Box::new(pin_digest::PinDigest)]
}
