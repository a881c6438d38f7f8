//! learn (work in progress)
