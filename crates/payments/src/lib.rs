//! Payments: not built yet. This crate holds its place in the workspace so the design has room
//! for it: like the other domain crates it will own its tables and expose service functions
//! that take a `ConnectionTrait`, and it will reach other domains only through theirs.
