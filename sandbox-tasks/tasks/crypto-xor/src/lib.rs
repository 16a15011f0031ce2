//! Task crypto-xor.
