#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

// One quote by swtpm 0.7.1 through tpm2-tools 5.4 (`tpm2_createak -G ecc -g
// sha256 -s ecdsa`, then `tpm2_quote -l sha256:0,1,2,7 -q QD -m MSG -s SIG`,
// signature in its default tss form), with the AK's point from
// `tpm2_readpublic -f der`.
const AK: &str = "048923c2c7ea0ba4266f556738d63822d27970225f74d537d2ddc52d7740c266f1bf62bba671e66648468cb4b0c644e70b1c8f43be1a5dd2c964b6261cdef98669";
const MSG: &str = "ff54434780180022000bb29ca0111a63779e4535254900ee73f20bb40e95e4c1d230e061a4095108e71d002000112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0000000000003fe8000000010000000001201910230016363600000001000b03870000002038723a2e5e8a17aa7950dc008209944e898f69a7bd10a23c839d341e935fd5ca";
const SIG: &str = "0018000b00200cc9add7b88cafbddc48952bd9fad7c42be5f2e043b09da0877b02171c9a87be00204f7d3f60cf4849e5ad4e95e62a3d676855a6fa831bc36cec2a52c23710837c5c";
const QD: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const DIGEST: &str = "38723a2e5e8a17aa7950dc008209944e898f69a7bd10a23c839d341e935fd5ca";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn registration() -> StationRegistration {
    StationRegistration {
        ak_public: unhex(AK).try_into().unwrap(),
        evaluator_key_id: [7; 32],
        pcr_selection: PcrSelection::sha256(&[0, 1, 2, 7]).unwrap(),
        pcr_digest: unhex(DIGEST),
    }
}

#[test]
fn swtpm_quote_parses_field_by_field() {
    let q = parse_attest(&unhex(MSG)).unwrap();
    assert_eq!(
        q.qualified_signer,
        unhex("000bb29ca0111a63779e4535254900ee73f20bb40e95e4c1d230e061a4095108e71d")
    );
    assert_eq!(q.extra_data, unhex(QD));
    assert_eq!(
        q.clock_info,
        ClockInfo {
            clock: 0x3fe8,
            reset_count: 1,
            restart_count: 0,
            safe: true
        }
    );
    assert_eq!(q.firmware_version, 0x2019_1023_0016_3636);
    assert_eq!(q.pcr_selection.to_bytes(), unhex("00000001000b03870000"));
    assert_eq!(q.pcr_selection.to_string(), "sha256:0,1,2,7");
    assert_eq!(q.pcr_selection.to_tpm2_tools().unwrap(), "sha256:0,1,2,7");
    assert_eq!(q.pcr_digest, unhex(DIGEST));
    // Four fresh PCRs are 128 zero bytes; the quote's digest is their SHA-256.
    assert_eq!(
        digest::digest(&digest::SHA256, &[0u8; 128]).as_ref(),
        &q.pcr_digest[..]
    );
}

#[test]
fn swtpm_quote_verifies_under_its_ak() {
    let info = verify_quote(&registration(), &unhex(MSG), &unhex(SIG), &unhex(QD)).unwrap();
    assert_eq!(info.extra_data, unhex(QD));
}

#[test]
fn signature_scalars_are_padded_to_32_bytes() {
    // r with one leading zero byte kept by the TPM, s one byte short.
    let mut sig = unhex("0018000b0021");
    sig.push(0);
    sig.extend_from_slice(&[0x11; 32]);
    sig.extend_from_slice(&unhex("001f"));
    sig.extend_from_slice(&[0x22; 31]);
    let parsed = parse_signature(&sig).unwrap();
    assert_eq!(parsed.r, [0x11; 32]);
    let mut s = [0x22; 32];
    s[0] = 0;
    assert_eq!(parsed.s, s);
    assert_eq!(&parsed.fixed()[..32], &[0x11; 32]);
}

#[test]
fn every_altered_byte_of_the_attest_fails_the_signature() {
    let msg = unhex(MSG);
    for i in 0..msg.len() {
        let mut bad = msg.clone();
        bad[i] ^= 0x01;
        assert_eq!(
            verify_quote(&registration(), &bad, &unhex(SIG), &unhex(QD)),
            Err(QuoteError::SignatureInvalid),
            "byte {i}"
        );
    }
}

#[test]
fn other_ak_fails_the_signature() {
    let mut reg = registration();
    // The generator point of P-256: on the curve, and not this AK.
    reg.ak_public = unhex(concat!(
        "04",
        "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
        "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
    ))
    .try_into()
    .unwrap();
    assert_eq!(
        verify_quote(&reg, &unhex(MSG), &unhex(SIG), &unhex(QD)),
        Err(QuoteError::SignatureInvalid)
    );
}

#[test]
fn other_qualifying_data_is_named() {
    let other = [0u8; 32];
    assert_eq!(
        verify_quote(&registration(), &unhex(MSG), &unhex(SIG), &other),
        Err(QuoteError::QualifyingDataMismatch {
            expected: other.to_vec(),
            found: unhex(QD)
        })
    );
}

#[test]
fn other_pcr_selection_and_digest_are_named() {
    let mut reg = registration();
    reg.pcr_selection = PcrSelection::sha256(&[0, 1, 2, 3]).unwrap();
    let err = verify_quote(&reg, &unhex(MSG), &unhex(SIG), &unhex(QD)).unwrap_err();
    assert!(matches!(err, QuoteError::PcrSelectionMismatch { .. }));
    assert_eq!(
        err.to_string(),
        "TPMS_QUOTE_INFO: quoted PCR selection sha256:0,1,2,7 is not the registered sha256:0,1,2,3"
    );
    let mut reg = registration();
    reg.pcr_digest = vec![0; 32];
    assert_eq!(
        verify_quote(&reg, &unhex(MSG), &unhex(SIG), &unhex(QD)),
        Err(QuoteError::PcrDigestMismatch {
            registered: vec![0; 32],
            quoted: unhex(DIGEST)
        })
    );
    assert_eq!(
        QuoteError::PcrDigestMismatch {
            registered: vec![],
            quoted: vec![]
        }
        .class(),
        ErrorClass::Integrity
    );
}

use airlock_core::{Classify, ErrorClass};

#[test]
fn magic_and_type_are_checked() {
    let mut msg = unhex(MSG);
    msg[0] = 0xfe;
    assert_eq!(
        parse_attest(&msg),
        Err(QuoteError::WrongMagic { found: 0xfe54_4347 })
    );
    let mut msg = unhex(MSG);
    msg[5] = 0x17; // TPM_ST_ATTEST_CERTIFY
    assert_eq!(
        parse_attest(&msg),
        Err(QuoteError::WrongType { found: 0x8017 })
    );
    assert_eq!(
        QuoteError::WrongType { found: 0 }.class(),
        ErrorClass::Integrity
    );
}

#[test]
fn every_truncation_and_trailing_byte_is_refused() {
    let msg = unhex(MSG);
    for len in 0..msg.len() {
        let err = parse_attest(&msg[..len]).unwrap_err();
        assert!(matches!(err, QuoteError::Truncated { .. }), "{len}: {err}");
        assert_eq!(err.class(), ErrorClass::Input);
    }
    let mut long = msg.clone();
    long.push(0);
    assert_eq!(
        parse_attest(&long),
        Err(QuoteError::TrailingBytes {
            structure: "TPMS_ATTEST",
            count: 1
        })
    );
    let sig = unhex(SIG);
    for len in 0..sig.len() {
        assert!(parse_signature(&sig[..len]).is_err(), "{len}");
    }
    let mut long = sig.clone();
    long.push(0);
    assert!(matches!(
        parse_signature(&long),
        Err(QuoteError::TrailingBytes { .. })
    ));
}

#[test]
fn length_overruns_are_refused_with_the_field_named() {
    // qualifiedSigner claims 0xffff bytes.
    let mut msg = unhex(MSG);
    msg[6] = 0xff;
    msg[7] = 0xff;
    assert_eq!(
        parse_attest(&msg),
        Err(QuoteError::FieldTooLarge {
            field: "qualifiedSigner",
            size: 0xffff,
            max: 66
        })
    );
    // extraData claims 96 bytes: above TPM2B_DATA's 66.
    let mut msg = unhex(MSG);
    msg[0x2a..0x2c].copy_from_slice(&[0x00, 0x60]);
    assert_eq!(
        parse_attest(&msg),
        Err(QuoteError::FieldTooLarge {
            field: "extraData",
            size: 96,
            max: 66
        })
    );
    // pcrDigest claims 33 bytes of the 32 there are.
    let mut msg = unhex(MSG);
    let at = msg.len() - 34;
    msg[at..at + 2].copy_from_slice(&[0x00, 0x21]);
    assert_eq!(
        parse_attest(&msg),
        Err(QuoteError::Truncated {
            structure: "TPMS_ATTEST",
            field: "pcrDigest",
            offset: at + 2,
            needed: 33,
            available: 32
        })
    );
    // A PCR selection count of 2^32-1.
    let mut msg = unhex(MSG);
    let at = msg.len() - 32 - 2 - 6 - 4;
    msg[at..at + 4].copy_from_slice(&[0xff; 4]);
    assert_eq!(
        parse_attest(&msg),
        Err(QuoteError::FieldTooLarge {
            field: "TPML_PCR_SELECTION.count",
            size: usize::try_from(u32::MAX).unwrap(),
            max: 16
        })
    );
    assert_eq!(
        parse_attest(&msg).unwrap_err().to_string(),
        "TPML_PCR_SELECTION.count: size 4294967295 exceeds the maximum 16"
    );
}

#[test]
fn other_signature_schemes_are_refused() {
    let mut sig = unhex(SIG);
    sig[1] = 0x14; // TPM_ALG_RSASSA
    assert_eq!(
        parse_signature(&sig),
        Err(QuoteError::UnsupportedSignature {
            sig_alg: 0x0014,
            hash: 0x000b
        })
    );
    let mut sig = unhex("0018000b0021");
    sig.extend_from_slice(&[0x01; 33]);
    sig.extend_from_slice(&unhex("0001"));
    sig.push(1);
    assert_eq!(
        parse_signature(&sig),
        Err(QuoteError::ScalarTooLong {
            scalar: "r",
            len: 33
        })
    );
}

#[test]
fn registration_encoding_is_exact_and_round_trips() {
    let reg = registration();
    let bytes = reg.to_bytes();
    let mut expected = unhex("414c535201");
    expected.extend_from_slice(&unhex(AK));
    expected.extend_from_slice(&[7; 32]);
    expected.extend_from_slice(&unhex("00000001000b038700000020"));
    expected.extend_from_slice(&unhex(DIGEST));
    assert_eq!(bytes, expected);
    assert_eq!(bytes.len(), 146);
    assert_eq!(StationRegistration::from_bytes(&bytes).unwrap(), reg);
    for len in 0..bytes.len() {
        assert!(
            StationRegistration::from_bytes(&bytes[..len]).is_err(),
            "{len}"
        );
    }
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(
        StationRegistration::from_bytes(&long),
        Err(QuoteError::TrailingBytes { .. })
    ));
    let mut bad = bytes.clone();
    bad[4] = 2;
    assert_eq!(
        StationRegistration::from_bytes(&bad),
        Err(QuoteError::RegistrationHeader {
            found: unhex("414c535202")
        })
    );
    let mut bad = bytes;
    bad[5] = 0x02;
    assert!(matches!(
        StationRegistration::from_bytes(&bad),
        Err(QuoteError::AkPublicKeyMalformed { .. })
    ));
}

#[test]
fn qualifying_data_is_sha256_of_domain_key_id_and_chain_hash() {
    let mut input = b"airlock-tpm-quote/v1 run binding\0".to_vec();
    assert_eq!(input.len(), 33);
    input.extend_from_slice(&[1; 32]);
    input.extend_from_slice(&[2; 32]);
    let qd = qualifying_data(&[1; 32], &[2; 32]);
    assert_eq!(&qd[..], digest::digest(&digest::SHA256, &input).as_ref());
    assert_ne!(qd, qualifying_data(&[2; 32], &[1; 32]));
}

fn clock(clock: u64, reset_count: u32, restart_count: u32) -> ClockInfo {
    ClockInfo {
        clock,
        reset_count,
        restart_count,
        safe: true,
    }
}

#[test]
fn counters_may_advance_and_restart_resets_with_a_reset() {
    check_counters(&[]).unwrap();
    check_counters(&[clock(5, 1, 0)]).unwrap();
    check_counters(&[
        clock(5, 1, 0),
        clock(5, 1, 0),
        clock(9, 1, 3),
        clock(10, 2, 0),
    ])
    .unwrap();
}

#[test]
fn counters_going_backwards_are_named() {
    assert_eq!(
        check_counters(&[clock(5, 1, 0), clock(9, 1, 0), clock(8, 1, 0)]),
        Err(QuoteError::CounterWentBackwards {
            index: 2,
            counter: "clock",
            previous: 9,
            current: 8
        })
    );
    assert_eq!(
        check_counters(&[clock(5, 2, 0), clock(9, 1, 7)]),
        Err(QuoteError::CounterWentBackwards {
            index: 1,
            counter: "resetCount/restartCount",
            previous: 2 << 32,
            current: (1 << 32) | 7
        })
    );
    assert_eq!(
        check_counters(&[clock(5, 1, 3), clock(9, 1, 2)])
            .unwrap_err()
            .to_string(),
        "quote 1: TPMS_CLOCK_INFO resetCount/restartCount went backwards from 4294967299 to \
         4294967298"
    );
}
