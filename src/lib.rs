//! flightrec: a flight recorder for AI-agent runtimes.

pub mod event;
pub mod redact;
