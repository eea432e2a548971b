//! End-to-end tests of the whole server live in `tests/main.rs` (one test binary).
