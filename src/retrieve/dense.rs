//! Dense retrieval: every FAQ phrasing embedded once at load; a message's similarity to an
//! entry is its cosine to the entry's closest phrasing. An entry is found by what it means,
//! even when the customer shares no word with it ("hi there" ~ "hello there").

/// The phrasing vectors of one shop.
pub struct DenseFaqs {
    dim: usize,
    /// Row-major, one unit vector per phrasing.
    vectors: Vec<f32>,
    /// The FAQ entry (index into the knowledge base's `faqs`) of each phrasing.
    owner: Vec<usize>,
    entries: usize,
}

impl DenseFaqs {
    /// `phrasings` pairs an entry index with its phrasing's embedding.
    pub fn new<'a>(entries: usize, phrasings: impl IntoIterator<Item = (usize, &'a [f32])>) -> DenseFaqs {
        let (mut vectors, mut owner, mut dim) = (Vec::new(), Vec::new(), 0);
        for (faq, v) in phrasings {
            dim = v.len();
            vectors.extend_from_slice(v);
            owner.push(faq);
        }
        DenseFaqs { dim, vectors, owner, entries }
    }

    /// Each phrasing's entry and embedding.
    pub fn phrasings(&self) -> impl Iterator<Item = (usize, &[f32])> {
        self.owner.iter().copied().zip(self.vectors.chunks_exact(self.dim.max(1)))
    }

    /// Per entry, the cosine of `query` to its closest phrasing (-1 for an entry without any).
    pub fn similarities(&self, query: &[f32]) -> Vec<f32> {
        let mut best = vec![-1.0f32; self.entries];
        if self.dim == 0 || query.len() != self.dim {
            return best;
        }
        for (row, &faq) in self.vectors.chunks_exact(self.dim).zip(&self.owner) {
            // One sequential sum does not vectorise; eight lanes do (this loop is a tenth of
            // the service's CPU under load).
            let cos = crate::understand::dense::dot(row, query);
            best[faq] = best[faq].max(cos);
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_scores_its_closest_phrasing() {
        let a = [1.0, 0.0];
        let b = [0.0, 1.0];
        let c = [0.6, 0.8];
        let dense = DenseFaqs::new(3, [(0, &a[..]), (0, &b[..]), (1, &c[..])]);
        let sims = dense.similarities(&[1.0, 0.0]);
        assert_eq!(sims, vec![1.0, 0.6, -1.0]);
    }
}
