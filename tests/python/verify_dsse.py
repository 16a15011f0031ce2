"""Verify an `airlock export --dsse` directory with Python securesystemslib.

Usage: python verify_dsse.py OUT_DIR

Loads OUT_DIR/signer.pub (SPKI PEM) as a securesystemslib key, checks that
its keyid is the one every envelope's signature carries, verifies every
envelope in OUT_DIR/results.intoto.jsonl with `Envelope.verify([key], 1)`,
checks each payload is an in-toto Statement v1 with sha256 and blake3
subject digests, and checks that an envelope whose payload was altered is
rejected. Prints one summary line; exits non-zero on any failure.
"""

import base64
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://airlock.invalid/task-result/v1"


def fail(message):
    print(f"verify_dsse: FAILED: {message}")
    sys.exit(1)


def main():
    out = Path(sys.argv[1])
    key = SSlibKey.from_crypto(load_pem_public_key((out / "signer.pub").read_bytes()))
    lines = (out / "results.intoto.jsonl").read_text().splitlines()
    if not lines:
        fail("no envelopes")
    verified = 0
    rejected = 0
    for number, line in enumerate(lines, 1):
        data = json.loads(line)
        keyids = [s["keyid"] for s in data["signatures"]]
        if keyids != [key.keyid]:
            fail(f"envelope {number}: keyids {keyids}, securesystemslib computes {key.keyid}")
        envelope = Envelope.from_dict(data)
        if envelope.payload_type != PAYLOAD_TYPE:
            fail(f"envelope {number}: payload type {envelope.payload_type}")
        accepted = envelope.verify([key], 1)
        if list(accepted) != [key.keyid]:
            fail(f"envelope {number}: accepted {list(accepted)}")
        statement = json.loads(envelope.payload)
        if statement["_type"] != STATEMENT_TYPE or statement["predicateType"] != PREDICATE_TYPE:
            fail(f"envelope {number}: not an Airlock in-toto statement")
        digest = statement["subject"][0]["digest"]
        if len(digest.get("sha256", "")) != 64 or len(digest.get("blake3", "")) != 64:
            fail(f"envelope {number}: subject digests {digest}")
        verified += 1

        # The same envelope with one payload byte changed must be rejected.
        # (A fresh copy: Envelope.from_dict consumes the dict it is given.)
        altered = json.loads(line)
        payload = bytearray(base64.b64decode(data["payload"]))
        payload[len(payload) // 2] ^= 0x01
        altered["payload"] = base64.b64encode(bytes(payload)).decode()
        try:
            Envelope.from_dict(altered).verify([key], 1)
        except VerificationError:
            rejected += 1
        else:
            fail(f"envelope {number}: an altered payload was accepted")
    print(
        f"verify_dsse: {verified} envelopes verified with securesystemslib "
        f"(keyid {key.keyid}); {rejected} altered payloads rejected"
    )


if __name__ == "__main__":
    main()
