//! console (work in progress)
