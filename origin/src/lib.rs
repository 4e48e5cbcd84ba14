//! The origin service (skeleton).
