//! Fusion of the two retrievers: tantivy's word matches and the encoder's similarities. Each
//! entry's confidence becomes a weighted mean of its word-match confidence and its
//! similarity mapped onto 0..1, so an entry can be found by its words, by its meaning, or
//! best by both; entries only the encoder finds join the candidates.

use super::FaqMatch;

/// Cosine at or below which a phrasing says nothing about the message: e5 puts almost any
/// two short texts above 0.7.
pub(super) const SIMILARITY_FLOOR: f32 = 0.80;
/// Cosine from which a phrasing means what the message means.
pub(super) const SIMILARITY_FULL: f32 = 0.95;
/// Share of the confidence that comes from meaning.
pub(super) const MEANING_WEIGHT: f32 = 0.6;

/// The similarity mapped onto 0..1.
pub(super) fn similarity_confidence(cos: f32) -> f32 {
    ((cos - SIMILARITY_FLOOR) / (SIMILARITY_FULL - SIMILARITY_FLOOR)).clamp(0.0, 1.0)
}

/// Adds the encoder's view to tantivy's candidates; `similarities` has one cosine per FAQ
/// entry. Best first, by confidence, then similarity.
pub fn fuse(lexical: Vec<FaqMatch>, similarities: &[f32]) -> Vec<FaqMatch> {
    let mut by_faq: Vec<Option<FaqMatch>> = vec![None; similarities.len()];
    for m in lexical {
        if let Some(slot) = by_faq.get_mut(m.faq) {
            *slot = Some(m);
        }
    }
    let mut out: Vec<FaqMatch> = by_faq
        .into_iter()
        .zip(similarities)
        .enumerate()
        .filter_map(|(faq, (found, &cos))| {
            let meaning = similarity_confidence(cos);
            let m = found.unwrap_or(FaqMatch { faq, score: 0.0, confidence: 0.0, lexical: 0.0, similarity: None });
            if m.lexical <= 0.0 && meaning <= 0.0 {
                return None;
            }
            let confidence = MEANING_WEIGHT * meaning + (1.0 - MEANING_WEIGHT) * m.lexical;
            Some(FaqMatch { confidence, similarity: Some(cos), ..m })
        })
        .collect();
    out.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(b.similarity.unwrap_or(-1.0).total_cmp(&a.similarity.unwrap_or(-1.0)))
            .then(a.faq.cmp(&b.faq))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexical(faq: usize, confidence: f32) -> FaqMatch {
        FaqMatch { faq, score: 1.0, confidence, lexical: confidence, similarity: None }
    }

    #[test]
    fn meaning_finds_an_entry_no_word_matched_and_ranks_it() {
        let fused = fuse(vec![lexical(0, 0.5)], &[0.82, 0.96, 0.5]);
        assert_eq!(fused.iter().map(|m| m.faq).collect::<Vec<_>>(), vec![1, 0]);
        assert!((fused[0].confidence - MEANING_WEIGHT).abs() < 1e-6);
        assert_eq!(fused[0].lexical, 0.0);
        assert_eq!(fused[1].similarity, Some(0.82));
    }

    #[test]
    fn words_and_meaning_together_beat_either_alone() {
        let fused = fuse(vec![lexical(0, 0.9), lexical(1, 0.2)], &[0.93, 0.95]);
        assert_eq!(fused[0].faq, 0);
        assert!(fused[0].confidence > 0.8 && fused[1].confidence < fused[0].confidence);
    }
}
