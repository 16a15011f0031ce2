//! Enrolment and quotes against swtpm, checked by the offline verifier.
//!
//! Each test starts its own swtpm (the end-to-end tests' harness,
//! `airlock_tests::swtpm`) on free loopback ports, with its state in a
//! temporary directory, and kills it when done. `.ci/run` installs swtpm
//! and tpm2-tools; under `CI=true` their absence fails these tests,
//! elsewhere they are skipped with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use airlock_tests::swtpm::{Swtpm, tools_present};
use airlock_tpm_quote::{
    PcrSelection, QuoteError, StationRegistration, check_counters, parse_attest, qualifying_data,
    verify_quote,
};
use airlock_tpm_station::{StationError, enroll, quote};

const KEY_ID: [u8; 32] = [0x4b; 32];

fn pcrs() -> PcrSelection {
    PcrSelection::sha256(&[0, 1, 2, 7]).unwrap()
}

fn enrolled(tpm: &Swtpm, dir: &Path) -> StationRegistration {
    enroll(&tpm.tcti, dir, &KEY_ID, &pcrs()).unwrap()
}

#[test]
fn enrol_then_quote_verifies_offline_and_reenrolment_loads_the_same_ak() {
    if !tools_present("the TPM station against swtpm") {
        return;
    }
    let tpm = Swtpm::start();
    let dir = tempfile::tempdir().unwrap();
    let registration = enrolled(&tpm, dir.path());
    assert_eq!(registration.evaluator_key_id, KEY_ID);
    assert_eq!(registration.pcr_selection, pcrs());
    // Fresh swtpm PCRs 0, 1, 2, 7 are zero: the digest is SHA-256 of 128 zeros.
    assert_eq!(
        registration.pcr_digest,
        sha256_of_128_zero_bytes(),
        "registered PCR digest"
    );
    // The registration survives its encoding, as a verifier reads it.
    let registration = StationRegistration::from_bytes(&registration.to_bytes()).unwrap();

    let mut clocks = Vec::new();
    for chain in [[1u8; 32], [2u8; 32]] {
        let qd = qualifying_data(&KEY_ID, &chain);
        let (attest, signature) = quote(&tpm.tcti, dir.path(), &qd).unwrap();
        assert_eq!(&attest[..6], &[0xff, 0x54, 0x43, 0x47, 0x80, 0x18]);
        let info = verify_quote(&registration, &attest, &signature, &qd).unwrap();
        assert_eq!(info.extra_data, qd);
        clocks.push(info.clock_info);
    }
    check_counters(&clocks).unwrap();

    // The directory holds the AK: enrolling again loads it, same registration.
    assert_eq!(enrolled(&tpm, dir.path()), registration);
}

/// SHA-256 of 128 zero bytes (four zeroed SHA-256 PCRs), as a constant so
/// the test does not compute what it checks.
fn sha256_of_128_zero_bytes() -> Vec<u8> {
    let hex = "38723a2e5e8a17aa7950dc008209944e898f69a7bd10a23c839d341e935fd5ca";
    (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn quote_from_another_tpm_fails_the_signature() {
    if !tools_present("the TPM station against swtpm") {
        return;
    }
    let (a, b) = (Swtpm::start(), Swtpm::start());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let registration = enrolled(&a, dir_a.path());
    enrolled(&b, dir_b.path());
    let qd = qualifying_data(&KEY_ID, &[3; 32]);
    let (attest, signature) = quote(&b.tcti, dir_b.path(), &qd).unwrap();
    // Same PCR state, same qualifying data: only the key differs.
    assert_eq!(
        parse_attest(&attest).unwrap().pcr_digest,
        registration.pcr_digest
    );
    assert_eq!(
        verify_quote(&registration, &attest, &signature, &qd),
        Err(QuoteError::SignatureInvalid)
    );
}

#[test]
fn pcr_extended_after_enrolment_fails_the_pcr_digest() {
    if !tools_present("the TPM station against swtpm") {
        return;
    }
    let tpm = Swtpm::start();
    let dir = tempfile::tempdir().unwrap();
    let registration = enrolled(&tpm, dir.path());
    tpm.pcr_extend(7, 1);
    let qd = qualifying_data(&KEY_ID, &[4; 32]);
    let (attest, signature) = quote(&tpm.tcti, dir.path(), &qd).unwrap();
    let err = verify_quote(&registration, &attest, &signature, &qd).unwrap_err();
    let QuoteError::PcrDigestMismatch { registered, quoted } = &err else {
        panic!("expected a PCR digest mismatch, got {err}");
    };
    assert_eq!(registered, &registration.pcr_digest);
    assert_ne!(quoted, registered);
    assert!(err.to_string().contains("PCRs changed"), "{err}");
}

#[test]
fn quote_for_other_qualifying_data_or_with_one_byte_altered_fails() {
    if !tools_present("the TPM station against swtpm") {
        return;
    }
    let tpm = Swtpm::start();
    let dir = tempfile::tempdir().unwrap();
    let registration = enrolled(&tpm, dir.path());
    let qd = qualifying_data(&KEY_ID, &[5; 32]);
    let other_run = qualifying_data(&KEY_ID, &[6; 32]);
    let (attest, signature) = quote(&tpm.tcti, dir.path(), &qd).unwrap();
    verify_quote(&registration, &attest, &signature, &qd).unwrap();
    assert_eq!(
        verify_quote(&registration, &attest, &signature, &other_run),
        Err(QuoteError::QualifyingDataMismatch {
            expected: other_run.to_vec(),
            found: qd.to_vec()
        })
    );
    let mut altered = attest.clone();
    let last = altered.len() - 1;
    altered[last] ^= 0x80;
    assert_eq!(
        verify_quote(&registration, &altered, &signature, &qd),
        Err(QuoteError::SignatureInvalid)
    );
}

#[test]
fn a_tpm2_tools_failure_names_the_program_and_its_stderr() {
    if !tools_present("the TPM station against swtpm") {
        return;
    }
    // A port with nothing listening: the privileged discard port, which no
    // test's swtpm can be given (a free ephemeral port could be, by a test
    // running beside this one).
    let dir = tempfile::tempdir().unwrap();
    let err = enroll("swtpm:host=127.0.0.1,port=9", dir.path(), &KEY_ID, &pcrs()).unwrap_err();
    let StationError::Tool {
        program, stderr, ..
    } = &err
    else {
        panic!("expected a tool failure, got {err}");
    };
    assert_eq!(*program, "tpm2_createek");
    assert!(!stderr.is_empty());
    assert!(
        err.to_string().starts_with("tpm2_createek failed with"),
        "{err}"
    );
    // Nothing half-enrolled is left to be loaded later.
    assert!(!dir.path().join("ak.handle").exists());
}

#[test]
fn quote_before_enrolment_names_the_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = quote("swtpm:host=127.0.0.1,port=1", dir.path(), &[0; 32]).unwrap_err();
    let StationError::File { path, .. } = &err else {
        panic!("expected a file error, got {err}");
    };
    assert_eq!(path, &dir.path().join("pcr-selection"));
}
