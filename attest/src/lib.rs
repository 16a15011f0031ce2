//! Airlock attestation: Ed25519 keys, signed records, bundles and their verification.
