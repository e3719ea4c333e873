//! Property tests of the parser's invariants.
