//! http (work in progress)
