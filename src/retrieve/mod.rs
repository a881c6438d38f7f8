//! retrieve (work in progress)
