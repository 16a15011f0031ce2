//! End-to-end tests that drive the real airlock binary.
