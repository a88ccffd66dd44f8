//! Facts several rules need, derived from one pass's stream on first use and then shared by
//! the rules of that pass (the stream does not change within a pass; a new pass starts empty).

use std::sync::OnceLock;

use crate::document::Document;
use crate::inventory::selectors::SelectorIndexes;
use crate::inventory::traffic::{self, Reference};
use crate::inventory::Inventory;

/// The lazily derived facts of one pass.
#[derive(Debug, Default)]
pub struct PassFacts {
    /// Service references (CH402 and CH603 need them).
    references: OnceLock<Vec<Reference>>,
    /// Label-selector indexes by (kind, selector pointer).
    pub selectors: SelectorIndexes,
    /// Per workload (inventory order): whether it carries any opt-out annotation (most carry
    /// none, and then no rule needs to read its annotations).
    opt_outs: OnceLock<Vec<bool>>,
}

impl PassFacts {
    /// Workload → Service references found in env, args and ConfigMaps.
    pub fn references(&self, docs: &[Document], inv: &Inventory) -> &[Reference] {
        self.references
            .get_or_init(|| traffic::references(docs, inv))
    }

    /// True when workload `wi` (inventory order) carries an opt-out annotation
    /// ([`crate::exemptions::has_opt_outs`]).
    pub fn has_opt_outs(&self, docs: &[Document], inv: &Inventory, wi: usize) -> bool {
        self.opt_outs.get_or_init(|| {
            inv.workloads
                .iter()
                .map(|w| {
                    let doc = &docs[w.object.doc];
                    crate::exemptions::has_opt_outs(
                        doc.object_value(&w.object),
                        w.template.lookup(&doc.value),
                    )
                })
                .collect()
        })[wi]
    }
}
