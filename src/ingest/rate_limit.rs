//! Token-bucket rate limits per key (shop, customer, visitor), in memory. Replicas each keep
//! their own buckets, so the effective limit scales with the replica count; that is the
//! intended trade-off for a limit whose job is to stop floods, not to meter.

use dashmap::DashMap;
use std::time::{Duration, Instant};

/// Buckets of one kind of key.
pub struct RateLimiter {
    per_minute: f64,
    buckets: DashMap<String, (f64, Instant)>,
}

impl RateLimiter {
    /// `per_minute` requests per key per minute, with bursts up to the same number.
    pub fn new(per_minute: u32) -> Self {
        Self { per_minute: f64::from(per_minute.max(1)), buckets: DashMap::new() }
    }

    /// Takes one token for `key`; on refusal, how long until one is available.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let rate = self.per_minute / 60.0;
        let mut entry = self.buckets.entry(key.to_string()).or_insert((self.per_minute, now));
        let (tokens, last) = *entry;
        let tokens = (tokens + now.duration_since(last).as_secs_f64() * rate).min(self.per_minute);
        if tokens >= 1.0 {
            *entry = (tokens - 1.0, now);
            Ok(())
        } else {
            *entry = (tokens, now);
            // The real time until the bucket holds a whole token again (the caller rounds up).
            Err(Duration::from_secs_f64((1.0 - tokens) / rate))
        }
    }

    /// Drops buckets that are full again (bounded memory under many distinct keys).
    pub fn prune(&self) {
        let now = Instant::now();
        let full_after = Duration::from_secs(60);
        self.buckets.retain(|_, (_, last)| now.duration_since(*last) < full_after);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_limit_is_refused_with_a_wait() {
        let limiter = RateLimiter::new(3);
        for _ in 0..3 {
            assert!(limiter.check("c1").is_ok());
        }
        let wait = limiter.check("c1").unwrap_err();
        assert!(wait >= Duration::from_secs(1));
        assert!(limiter.check("c2").is_ok(), "keys are independent");
    }

    #[test]
    fn the_wait_is_the_time_the_bucket_needs_to_refill_one_token() {
        // 30 a minute: one token every 2 s, so an empty bucket needs (almost) 2 s, not 1.
        let limiter = RateLimiter::new(30);
        for _ in 0..30 {
            assert!(limiter.check("c").is_ok());
        }
        let wait = limiter.check("c").unwrap_err();
        assert!(wait > Duration::from_millis(1900) && wait <= Duration::from_secs(2), "{wait:?}");
    }
}
