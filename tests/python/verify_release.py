"""Verify an Airlock release directory with tools written by others.

Usage: python verify_release.py RELEASE_DIR RELEASE.pub

- securesystemslib: RELEASE_DIR/release.intoto.json is a DSSE envelope
  whose signature verifies (`Envelope.verify([key], 1)`) under RELEASE.pub
  (SPKI PEM), and the same envelope with one payload byte changed does not.
- in-toto-attestation: the payload parses strictly (no unknown field) as an
  in-toto Statement v1 and passes its `validate()`; the predicate parses
  strictly as a SLSA provenance v1 predicate with a build type, a builder
  id and resolved dependencies.
- hashlib: every subject's sha256 is the sha256 of the file of that name in
  RELEASE_DIR, and every file the build recipe lists is a subject.

Prints one summary line; exits non-zero on any failure.
"""

import base64
import hashlib
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

PAYLOAD_TYPE = "application/vnd.in-toto+json"
PROVENANCE_TYPE = "https://slsa.dev/provenance/v1"


def fail(message):
    print(f"verify_release: FAILED: {message}")
    sys.exit(1)


def main():
    release = Path(sys.argv[1])
    key = SSlibKey.from_crypto(load_pem_public_key(Path(sys.argv[2]).read_bytes()))
    text = (release / "release.intoto.json").read_text()
    envelope = Envelope.from_dict(json.loads(text))
    if envelope.payload_type != PAYLOAD_TYPE:
        fail(f"payload type {envelope.payload_type}")
    accepted = envelope.verify([key], 1)
    if list(accepted) != [key.keyid]:
        fail(f"accepted {list(accepted)}, securesystemslib computes keyid {key.keyid}")

    altered = json.loads(text)
    payload = bytearray(base64.b64decode(altered["payload"]))
    payload[len(payload) // 2] ^= 0x01
    altered["payload"] = base64.b64encode(bytes(payload)).decode()
    try:
        Envelope.from_dict(altered).verify([key], 1)
    except VerificationError:
        pass
    else:
        fail("an altered payload was accepted")

    proto = json_format.Parse(envelope.payload, statement_pb2.Statement())
    Statement.copy_from_pb(proto).validate()
    if proto.predicate_type != PROVENANCE_TYPE:
        fail(f"predicate type {proto.predicate_type}")
    provenance = json_format.ParseDict(
        json_format.MessageToDict(proto.predicate), provenance_pb2.Provenance()
    )
    definition = provenance.build_definition
    if not definition.build_type or not provenance.run_details.builder.id:
        fail("no build type or builder id")
    materials = {d.name for d in definition.resolved_dependencies}
    if "Cargo.lock" not in materials:
        fail(f"Cargo.lock is not a resolved dependency: {sorted(materials)}")

    subjects = {s.name: s.digest["sha256"] for s in proto.subject}
    recipe = json.loads((release / "build-recipe.json").read_text())
    for name in recipe["artifacts"]:
        if name not in subjects:
            fail(f"artifact {name} is not a subject")
    for name, sha256 in subjects.items():
        actual = hashlib.sha256((release / name).read_bytes()).hexdigest()
        if actual != sha256:
            fail(f"{name}: sha256 {actual} is not the subject's {sha256}")
    print(
        f"verify_release: envelope verified with securesystemslib (keyid {key.keyid}); "
        f"statement and SLSA provenance v1 parse strictly with in-toto-attestation; "
        f"{len(subjects)} subjects match their files; an altered payload was rejected"
    )


if __name__ == "__main__":
    main()
