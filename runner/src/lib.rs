//! The Airlock runner library.
