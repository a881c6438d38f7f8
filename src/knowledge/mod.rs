//! knowledge (work in progress)
