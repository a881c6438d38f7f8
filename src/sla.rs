//! sla (work in progress)
