//! Serialization (to come).
