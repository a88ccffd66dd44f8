//! Report-only workload hygiene (missing probes, missing resources) and the audit of
//! exemption annotations.

use crate::rules::Rule;

mod exempted;
mod missing_probes;
mod missing_resources;

/// The rules of this group.
pub fn rules() -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(missing_probes::MissingProbes),
        Box::new(missing_resources::MissingResources),
        Box::new(exempted::ExemptedByAnnotation),
    ]
}
