//! deliver (work in progress)
