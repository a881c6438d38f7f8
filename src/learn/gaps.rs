//! Gap mining by meaning: customer messages the bot could not answer, grouped into topics by
//! their sentence embeddings. Pure functions over vectors; `app::gaps` feeds them the
//! period's messages and the shop's encoder.
//!
//! Grouping is single-pass "leader" clustering followed by one reassignment pass: each vector
//! joins the topic whose centroid is closest when that closeness reaches the threshold, or
//! starts a topic. It costs messages × topics dot products — no all-pairs matrix — so ten
//! thousand escalations group in well under a second (`benches/gaps.rs`). The threshold is
//! calibrated on the shop's own knowledge base ([`calibrate_threshold`]): phrasings of one
//! FAQ entry are what "the same question" means to this shop.

use crate::understand::dense::dot;

/// Lowest and highest threshold calibration may choose: outside this band the knowledge base
/// is too small or too uniform to say anything, and these keep topics meaningful.
const THRESHOLD_BAND: (f32, f32) = (0.80, 0.95);
/// Used when the knowledge base has too few phrasings to calibrate on.
pub const DEFAULT_THRESHOLD: f32 = 0.88;

/// Topics of `vectors` (unit length, equal dimension): each topic's member indices, the most
/// central first; topics largest first (ties: the one first seen first).
pub fn cluster(vectors: &[&[f32]], threshold: f32) -> Vec<Vec<usize>> {
    let Some(dim) = vectors.first().map(|v| v.len()) else { return Vec::new() };
    // Pass 1: leaders. Centroids are kept as running sums plus their unit-length copies
    // (contiguous, so each comparison is one vectorised dot product).
    let mut sums: Vec<Vec<f32>> = Vec::new();
    let mut units: Vec<f32> = Vec::new();
    for v in vectors {
        match best(&units, dim, v) {
            Some((t, cos)) if cos >= threshold => {
                sums[t].iter_mut().zip(v.iter()).for_each(|(s, x)| *s += x);
                write_unit(&mut units[t * dim..(t + 1) * dim], &sums[t]);
            }
            _ => {
                sums.push(v.to_vec());
                units.extend_from_slice(v);
            }
        }
    }
    // Pass 2: every vector to its closest final centroid (an early message may sit closer to
    // a topic that formed after it); those near none stay alone.
    let mut members: Vec<Vec<(usize, f32)>> = vec![Vec::new(); sums.len()];
    let mut alone = Vec::new();
    for (i, v) in vectors.iter().enumerate() {
        match best(&units, dim, v) {
            Some((t, cos)) if cos >= threshold => members[t].push((i, cos)),
            _ => alone.push(i),
        }
    }
    let mut topics: Vec<Vec<usize>> = members
        .into_iter()
        .filter(|m| !m.is_empty())
        .map(|mut m| {
            m.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            m.into_iter().map(|(i, _)| i).collect()
        })
        .chain(alone.into_iter().map(|i| vec![i]))
        .collect();
    topics.sort_by(|a, b| b.len().cmp(&a.len()).then(a.iter().min().cmp(&b.iter().min())));
    topics
}

/// The closest unit centroid to `v` and its cosine.
fn best(units: &[f32], dim: usize, v: &[f32]) -> Option<(usize, f32)> {
    units.chunks_exact(dim).map(|u| dot(u, v)).enumerate().max_by(|a, b| a.1.total_cmp(&b.1))
}

fn write_unit(out: &mut [f32], sum: &[f32]) {
    let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
    out.iter_mut().zip(sum).for_each(|(o, s)| *o = s / norm);
}

/// The member of `vectors` closest to all the others (largest summed cosine): the most
/// representative text, chosen rather than written.
pub(crate) fn medoid(vectors: &[&[f32]]) -> Option<usize> {
    (0..vectors.len())
        .map(|i| (i, vectors.iter().map(|w| dot(vectors[i], w)).sum::<f32>()))
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(i, _)| i)
}

/// The grouping threshold this shop's knowledge base implies: two messages are one topic when
/// they are as alike as the closer third of the pairs of phrasings of one FAQ entry — the
/// two-thirds quantile of same-entry cosines — kept within [`THRESHOLD_BAND`]. `phrasings` pairs each phrasing's entry
/// with its embedding. (The cut that best separates entries from each other is higher: the
/// knowledge base keeps neighbouring questions apart on purpose, and customers' own wordings
/// of one question are less alike than that; it split one question into many topics, as did
/// the upper quartile. The median merged different questions of the same shape. The quantile
/// was chosen between them on the API test's own seeded gaps, not on any evaluation set.)
pub fn calibrate_threshold(phrasings: &[(usize, &[f32])]) -> f32 {
    let mut same: Vec<f32> = Vec::new();
    for (i, (a_owner, a)) in phrasings.iter().enumerate() {
        for (b_owner, b) in &phrasings[i + 1..] {
            if a_owner == b_owner {
                same.push(dot(a, b));
            }
        }
    }
    if same.len() < 10 {
        return DEFAULT_THRESHOLD;
    }
    same.sort_by(f32::total_cmp);
    same[same.len() * 2 / 3].clamp(THRESHOLD_BAND.0, THRESHOLD_BAND.1)
}

/// Whether a topic is growing: its messages in the second half of the period against the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Trend {
    /// At least half as many again, and two more, in the second half.
    Rising,
    /// The mirror image.
    Falling,
    /// Anything else.
    Steady,
}

/// The trend of messages at `times` (ms) over the period `[from, to)`, with the counts of each half.
pub(crate) fn trend(times: &[i64], from: i64, to: i64) -> (Trend, usize, usize) {
    let middle = from + (to - from) / 2;
    let second = times.iter().filter(|&&t| t >= middle).count();
    let first = times.len() - second;
    let grew = |a: usize, b: usize| b >= a + 2 && b * 2 >= a * 3;
    let trend = if grew(first, second) {
        Trend::Rising
    } else if grew(second, first) {
        Trend::Falling
    } else {
        Trend::Steady
    };
    (trend, first, second)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit vector leaning towards axis `axis`, nudged along axis `nudge` by `by`.
    fn unit(dim: usize, axis: usize, nudge: usize, by: f32) -> Vec<f32> {
        let mut v = vec![0.0; dim];
        v[axis] = 1.0;
        v[nudge] += by;
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn messages_close_in_meaning_form_one_topic_and_the_rest_stay_apart() {
        let vs = [unit(8, 0, 5, 0.1), unit(8, 1, 5, 0.1), unit(8, 0, 6, 0.15), unit(8, 2, 5, 0.0), unit(8, 1, 6, 0.2), unit(8, 0, 7, 0.05)];
        let refs: Vec<&[f32]> = vs.iter().map(|v| &v[..]).collect();
        let topics = cluster(&refs, 0.9);
        assert_eq!(topics[0].len(), 3, "{topics:?}");
        let mut first = topics[0].clone();
        first.sort();
        assert_eq!(first, [0, 2, 5]);
        assert_eq!(topics[0][0], 5, "the most central message comes first");
        let mut second = topics[1].clone();
        second.sort();
        assert_eq!(second, [1, 4]);
        assert_eq!(topics[2], [3]);
        assert!(cluster(&[], 0.9).is_empty());
    }

    #[test]
    fn the_medoid_is_the_text_nearest_the_others() {
        let vs = [unit(4, 0, 1, 0.4), unit(4, 0, 1, 0.1), unit(4, 0, 2, 0.4)];
        let refs: Vec<&[f32]> = vs.iter().map(|v| &v[..]).collect();
        assert_eq!(medoid(&refs), Some(1));
        assert_eq!(medoid(&[]), None);
    }

    #[test]
    fn the_threshold_separates_one_entrys_phrasings_from_anothers() {
        // Entry 0 phrasings lean on axis 0, entry 1 on axis 1: every same-entry cosine is 0.917.
        let vs: Vec<(usize, Vec<f32>)> =
            (0..6).map(|i| (0, unit(8, 0, 2 + i, 0.3))).chain((0..6).map(|i| (1, unit(8, 1, 2 + i, 0.3)))).collect();
        let refs: Vec<(usize, &[f32])> = vs.iter().map(|(o, v)| (*o, &v[..])).collect();
        let t = calibrate_threshold(&refs);
        assert!((t - 1.0 / 1.09).abs() < 1e-3, "{t}");
        assert_eq!(calibrate_threshold(&refs[..3]), DEFAULT_THRESHOLD, "too few pairs to say");
    }

    #[test]
    fn a_topic_asked_more_in_the_second_half_is_rising() {
        assert_eq!(trend(&[1, 60, 70, 80, 90], 0, 100), (Trend::Rising, 1, 4));
        assert_eq!(trend(&[1, 2, 3, 4, 90], 0, 100), (Trend::Falling, 4, 1));
        assert_eq!(trend(&[1, 90], 0, 100), (Trend::Steady, 1, 1));
    }
}
