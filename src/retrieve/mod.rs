//! Retrieve: a tantivy index over a shop's FAQ entries (every question phrasing in both
//! languages, and the answers), proposing the entries that answer a message, each with a
//! confidence the decision can use.

mod dense;
mod fusion;
mod index;

pub use dense::DenseFaqs;
pub use fusion::fuse;
pub use index::{FaqIndex, FaqMatch};
