//! Understand: read a customer message — normalise it, tell its language, classify its intent,
//! score its sentiment, notice frustration with the service, and pull out order numbers,
//! tracking numbers, phones and amounts.

pub mod analyzer;
pub mod concepts;
pub mod dense;
pub mod encoder;
pub mod extract;
pub mod features;
pub mod frustration;
pub mod intent;
pub mod linear;
pub mod normalize;
pub mod sentiment;
