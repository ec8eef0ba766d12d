"""Signing and verifying attestations (DESIGN §7): the fixed DSSE vector, tampering,
key validity windows, rotation and key loading."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from certification.certificates import keys as certificate_keys
from certification.certificates.attestations import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    PublicKeyInfo,
    VerificationError,
    build_statement,
    envelope_bytes,
    keyid_for,
    pae,
    public_key_raw,
    sign_envelope,
    verify_envelope,
)
from portal.canonical import canonical_json

# A verbatim copy of the design's fixed vector (test-vectors/dsse-ed25519.json).
VECTOR = json.loads((Path(__file__).parent / "dsse-ed25519.json").read_text())
VECTOR_KEY = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTOR["private_key_seed_hex"]))
UTC = dt.timezone.utc
T0 = dt.datetime(2025, 1, 1, tzinfo=UTC)
ISSUED = dt.datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
VECTOR_KEYS = [certificate_keys.public_key_info(VECTOR_KEY, T0)]
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PAYLOAD = VECTOR["payload_utf8"].encode()
SIG = base64.b64decode(VECTOR["envelope"]["signatures"][0]["sig"])
SUBJECTS = [("weights.safetensors", "ab" * 32), ("config.json", "cd" * 32)]

# Hypothesis runs many examples in one test call; the conftest's autouse fixtures
# (cache, email backend) do not matter to these pure functions.
# No example database: the examples are cheap to regenerate and the checkout stays clean.
def examples(count: int) -> hsettings:
    return hsettings(
        max_examples=count,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


def envelope_with(payload: bytes = PAYLOAD, sig: bytes = SIG, keyid: str | None = None, payload_type=PAYLOAD_TYPE):
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": keyid or VECTOR["keyid"], "sig": base64.b64encode(sig).decode()}],
    }


def flip(data: bytes, position: int, mask: int = 0x01) -> bytes:
    return data[:position] + bytes([data[position] ^ mask]) + data[position + 1 :]


def fails(envelope, keys=VECTOR_KEYS, at=ISSUED) -> str:
    with pytest.raises(VerificationError) as caught:
        verify_envelope(envelope, keys, at)
    return caught.value.reason


# --- the fixed vector, byte for byte ------------------------------------------------


def test_vector_keyid_and_public_key_are_reproduced():
    raw = public_key_raw(VECTOR_KEY)
    assert base64.b64encode(raw).decode() == VECTOR["public_key_raw_base64"]
    assert keyid_for(raw) == VECTOR["keyid"]


def test_vector_statement_is_reproduced_from_its_parts():
    statement = json.loads(VECTOR["payload_utf8"])
    subjects = [(s["name"], s["digest"]["sha256"]) for s in reversed(statement["subject"])]
    assert build_statement(subjects, statement["predicate"], statement["predicateType"]) == PAYLOAD


def test_vector_pae_is_reproduced():
    assert base64.b64encode(pae(VECTOR["payloadType"], PAYLOAD)).decode() == VECTOR["pae_base64"]


def test_vector_envelope_and_signature_are_reproduced():
    envelope = sign_envelope(PAYLOAD, VECTOR_KEY)
    assert envelope["payload"] == VECTOR["envelope"]["payload"]
    assert envelope["signatures"][0]["sig"] == VECTOR["envelope"]["signatures"][0]["sig"]
    assert envelope == VECTOR["envelope"]


def test_vector_envelope_verifies():
    verified = verify_envelope(VECTOR["envelope"], VECTOR_KEYS, ISSUED)
    assert verified.keyid == VECTOR["keyid"]
    assert verified.payload == PAYLOAD
    assert verified.predicate["certificate"] == "EXAMPLE-0001"
    assert [name for name, _ in verified.subjects] == [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ]


MUST_FAIL = {
    "any byte of the payload changed": lambda: (envelope_with(payload=flip(PAYLOAD, 100)), VECTOR_KEYS),
    "any byte of the signature changed": lambda: (envelope_with(sig=flip(SIG, 10)), VECTOR_KEYS),
    "payloadType changed": lambda: (envelope_with(payload_type="application/json"), VECTOR_KEYS),
    "a key whose keyid differs, or a different public key": lambda: (
        VECTOR["envelope"],
        [certificate_keys.public_key_info(OTHER_KEY, T0)],
    ),
}


def test_every_must_fail_case_of_the_vector_is_covered():
    assert set(VECTOR["must_fail"]) == set(MUST_FAIL)


@pytest.mark.parametrize("case", sorted(MUST_FAIL))
def test_vector_must_fail_cases_fail(case):
    envelope, keys = MUST_FAIL[case]()
    fails(envelope, keys)


def test_signature_by_another_key_under_the_vector_keyid_fails():
    keys = VECTOR_KEYS + [certificate_keys.public_key_info(OTHER_KEY, T0)]
    forged = sign_envelope(PAYLOAD, OTHER_KEY)
    forged["signatures"][0]["keyid"] = VECTOR["keyid"]
    assert fails(forged, keys) == VerificationError.BAD_SIGNATURE


# --- signing and verifying round trip ----------------------------------------------------


def test_signed_statement_round_trips_through_stored_bytes():
    predicate = {"certificate": "RRC-2025-0001", "tier": 3, "issued_at": ISSUED}
    payload = build_statement(SUBJECTS, predicate)
    stored = envelope_bytes(sign_envelope(payload, VECTOR_KEY))
    assert stored == canonical_json(json.loads(stored))

    verified = verify_envelope(stored, VECTOR_KEYS)  # at: the predicate's issued_at

    assert verified.checked_at == ISSUED
    assert verified.predicate_type == PREDICATE_TYPE
    assert verified.predicate == {"certificate": "RRC-2025-0001", "tier": 3, "issued_at": "2025-06-01T12:00:00Z"}
    assert verified.subjects == sorted(SUBJECTS)


def test_statement_lists_subjects_sorted_by_name_whatever_the_input_order():
    assert build_statement(SUBJECTS, {}) == build_statement(list(reversed(SUBJECTS)), {})
    statement = json.loads(build_statement(SUBJECTS, {}))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"][0] == {"name": "config.json", "digest": {"sha256": "cd" * 32}}


@pytest.mark.parametrize(
    "subjects",
    [[], [("a", "AB" * 32)], [("a", "ab" * 31)], [("", "ab" * 32)], [("a", "ab" * 32), ("a", "cd" * 32)]],
)
def test_statement_refuses_bad_subjects(subjects):
    with pytest.raises(ValueError):
        build_statement(subjects, {})


def test_one_signature_by_a_known_key_is_enough():
    envelope = sign_envelope(PAYLOAD, VECTOR_KEY)
    envelope["signatures"].insert(0, sign_envelope(PAYLOAD, OTHER_KEY)["signatures"][0])
    assert verify_envelope(envelope, VECTOR_KEYS, ISSUED).keyid == VECTOR["keyid"]


def test_statement_without_issue_time_needs_an_explicit_time():
    assert fails(VECTOR["envelope"], at=None) == VerificationError.NO_ISSUE_TIME


def test_signed_payload_that_is_not_a_statement_fails():
    envelope = sign_envelope(b'{"_type": "something else"}', VECTOR_KEY)
    assert fails(envelope) == VerificationError.MALFORMED


def _duplicate_key_envelope() -> bytes:
    return envelope_bytes(VECTOR["envelope"])[:-1] + b',"payloadType":"x"}'


def _noncanonical_payload_base64() -> dict:
    # The payload ends with "}" (0x7d), encoded "fQ=="; "fR==" decodes to the same byte.
    envelope = envelope_with()
    assert envelope["payload"].endswith("fQ==")
    envelope["payload"] = envelope["payload"][:-3] + "R=="
    assert base64.b64decode(envelope["payload"]) == PAYLOAD
    return envelope


@pytest.mark.parametrize(
    "envelope",
    [
        b"not json",
        b"[]",
        {"payloadType": PAYLOAD_TYPE, "payload": VECTOR["envelope"]["payload"]},
        {**VECTOR["envelope"], "signatures": []},
        {**VECTOR["envelope"], "extra": 1},
        {**VECTOR["envelope"], "payload": "not base64!"},
        {**VECTOR["envelope"], "signatures": [{"keyid": VECTOR["keyid"]}]},
        {**VECTOR["envelope"], "signatures": [{"keyid": VECTOR["keyid"], "sig": 12}]},
        pytest.param(_duplicate_key_envelope(), id="duplicate-key"),
        pytest.param(_noncanonical_payload_base64(), id="noncanonical-base64"),
    ],
)
def test_malformed_envelopes_fail(envelope):
    assert fails(envelope) == VerificationError.MALFORMED


# --- tampering: every position, then properties -------------------------------------------


def test_flipping_any_payload_byte_fails():
    for position in range(len(PAYLOAD)):
        assert fails(envelope_with(payload=flip(PAYLOAD, position))) == VerificationError.BAD_SIGNATURE


def test_flipping_any_signature_byte_fails():
    for position in range(len(SIG)):
        assert fails(envelope_with(sig=flip(SIG, position))) == VerificationError.BAD_SIGNATURE


@examples(300)
@given(st.data())
def test_property_changed_payload_byte_fails(data):
    position = data.draw(st.integers(0, len(PAYLOAD) - 1))
    mask = data.draw(st.integers(1, 255))
    assert fails(envelope_with(payload=flip(PAYLOAD, position, mask))) == VerificationError.BAD_SIGNATURE


@examples(300)
@given(st.data())
def test_property_changed_signature_byte_fails(data):
    position = data.draw(st.integers(0, len(SIG) - 1))
    mask = data.draw(st.integers(1, 255))
    assert fails(envelope_with(sig=flip(SIG, position, mask))) == VerificationError.BAD_SIGNATURE


@examples(150)
@given(st.binary(min_size=32, max_size=32))
def test_property_changed_keyid_fails(digest):
    keyid = "sha256:" + digest.hex()
    if keyid == VECTOR["keyid"]:
        return
    assert fails(envelope_with(keyid=keyid)) == VerificationError.UNKNOWN_KEY


@examples(150)
@given(st.text(min_size=0, max_size=60))
def test_property_changed_payload_type_fails(payload_type):
    if payload_type == PAYLOAD_TYPE:
        return
    assert fails(envelope_with(payload_type=payload_type)) == VerificationError.PAYLOAD_TYPE
    # The signature binds the type too, not only the check above.
    with pytest.raises(InvalidSignature):
        VECTOR_KEY.public_key().verify(SIG, pae(payload_type, PAYLOAD))


@examples(150)
@given(st.binary(min_size=32, max_size=32))
def test_property_wrong_key_fails(seed):
    wrong = certificate_keys.public_key_info(Ed25519PrivateKey.from_private_bytes(seed), T0)
    if wrong.keyid == VECTOR["keyid"]:
        return
    assert fails(VECTOR["envelope"], [wrong]) == VerificationError.UNKNOWN_KEY
    assert fails(envelope_with(keyid=wrong.keyid), [wrong]) == VerificationError.BAD_SIGNATURE


# --- key validity windows -------------------------------------------------------------


def test_key_is_checked_at_the_issue_time():
    key = PublicKeyInfo(VECTOR["keyid"], public_key_raw(VECTOR_KEY), T0, ISSUED)
    assert fails(VECTOR["envelope"], [key], at=T0 - dt.timedelta(seconds=1)) == VerificationError.KEY_NOT_VALID
    assert verify_envelope(VECTOR["envelope"], [key], T0).checked_at == T0
    assert fails(VECTOR["envelope"], [key], at=ISSUED) == VerificationError.KEY_NOT_VALID  # the end is excluded


def test_issue_time_is_read_from_the_predicate():
    payload = build_statement(SUBJECTS, {"issued_at": ISSUED})
    envelope = sign_envelope(payload, VECTOR_KEY)
    retired = [PublicKeyInfo(VECTOR["keyid"], public_key_raw(VECTOR_KEY), T0, ISSUED - dt.timedelta(days=1))]
    assert fails(envelope, retired, at=None) == VerificationError.KEY_NOT_VALID


def test_key_info_refuses_a_keyid_that_does_not_name_its_key():
    with pytest.raises(ValueError):
        PublicKeyInfo(VECTOR["keyid"], public_key_raw(OTHER_KEY), T0)


def test_key_info_as_published():
    assert VECTOR_KEYS[0].as_json() == {
        "keyid": VECTOR["keyid"],
        "algorithm": "ed25519",
        "public_key": VECTOR["public_key_raw_base64"],
        "valid_from": "2025-01-01T00:00:00Z",
        "valid_until": None,
    }


# --- loading keys -------------------------------------------------------------------


@pytest.fixture
def key_settings(settings, tmp_path, monkeypatch):
    for name in ("SIGNING_KEY_FILE", "SIGNING_KEY", "SIGNING_KEYS_DIR"):
        monkeypatch.delenv(name, raising=False)
        setattr(settings, name, "")
    settings.VAR_DIR = tmp_path / "var"
    settings.DEBUG = True
    return settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_key_is_loaded_from_a_pem_file(key_settings, tmp_path):
    path = tmp_path / "key.pem"
    path.write_bytes(certificate_keys.private_key_pem(VECTOR_KEY))
    key_settings.SIGNING_KEY_FILE = str(path)
    assert certificate_keys.load_signing_key()[1] == VECTOR["keyid"]


def test_key_is_loaded_from_the_environment_as_pem(key_settings, monkeypatch):
    monkeypatch.setenv("SIGNING_KEY", certificate_keys.private_key_pem(VECTOR_KEY).decode())
    assert certificate_keys.load_signing_key()[1] == VECTOR["keyid"]


def test_key_is_loaded_from_the_environment_as_base64_seed(key_settings, monkeypatch):
    seed = base64.b64encode(bytes.fromhex(VECTOR["private_key_seed_hex"])).decode()
    monkeypatch.setenv("SIGNING_KEY", seed)
    assert certificate_keys.load_signing_key()[1] == VECTOR["keyid"]
    assert not (key_settings.VAR_DIR / certificate_keys.DEV_KEY_NAME).exists()


@pytest.mark.parametrize("value", ["c2hvcnQ=", "not base64 at all", "-----BEGIN PRIVATE KEY-----\nxx\n"])
def test_bad_environment_key_is_refused(key_settings, monkeypatch, value):
    monkeypatch.setenv("SIGNING_KEY", value)
    with pytest.raises(ImproperlyConfigured):
        certificate_keys.load_signing_key()


def test_setting_both_key_sources_is_refused(key_settings, monkeypatch, tmp_path):
    key_settings.SIGNING_KEY_FILE = str(tmp_path / "key.pem")
    monkeypatch.setenv("SIGNING_KEY", "x")
    with pytest.raises(ImproperlyConfigured):
        certificate_keys.load_signing_key()


def test_no_key_outside_development_is_refused(key_settings):
    key_settings.DEBUG = False
    with pytest.raises(ImproperlyConfigured):
        certificate_keys.load_signing_key()
    assert not key_settings.VAR_DIR.exists()


def test_missing_key_file_is_refused_not_generated(key_settings, tmp_path):
    key_settings.SIGNING_KEY_FILE = str(tmp_path / "absent.pem")
    with pytest.raises(ImproperlyConfigured):
        certificate_keys.load_signing_key()
    assert not (tmp_path / "absent.pem").exists()


def test_development_key_is_generated_once_private_and_reused(key_settings):
    key, keyid = certificate_keys.load_signing_key()
    path = key_settings.VAR_DIR / certificate_keys.DEV_KEY_NAME
    assert mode(path) == 0o600
    assert keyid == keyid_for(public_key_raw(key))
    assert certificate_keys.load_signing_key()[1] == keyid
    assert [p.name for p in path.parent.iterdir()] == [certificate_keys.DEV_KEY_NAME]  # no temporary left


# --- rotation ---------------------------------------------------------------------------


def _sign_issued(key: Ed25519PrivateKey, issued_at: dt.datetime) -> bytes:
    return envelope_bytes(sign_envelope(build_statement(SUBJECTS, {"issued_at": issued_at}), key))


def test_rotated_key_keeps_old_certificates_verifiable(key_settings, tmp_path):
    keys_dir = tmp_path / "keys"
    key_settings.SIGNING_KEYS_DIR = str(keys_dir)
    old_key, old_id = certificate_keys.load_signing_key()
    old_certificate = _sign_issued(old_key, ISSUED)
    rotated_at = ISSUED + dt.timedelta(days=30)

    new_id = certificate_keys.rotate_key(keys_dir, now=rotated_at)

    new_key, current_id = certificate_keys.load_signing_key()
    assert current_id == new_id != old_id
    keys = certificate_keys.verification_keys()
    assert [(k.keyid, k.valid_from, k.valid_until) for k in keys] == [
        (old_id, certificate_keys.EPOCH, rotated_at),
        (new_id, rotated_at, None),
    ]
    assert verify_envelope(old_certificate, keys).keyid == old_id
    assert verify_envelope(_sign_issued(new_key, rotated_at), keys).keyid == new_id
    # The retired key can no longer vouch for anything issued after the rotation.
    late = _sign_issued(old_key, rotated_at + dt.timedelta(seconds=1))
    assert fails(late, keys, at=None) == VerificationError.KEY_NOT_VALID
    # Only the public part of the old key is kept.
    assert mode(key_settings.VAR_DIR / certificate_keys.DEV_KEY_NAME) == 0o600
    assert {p.name for p in keys_dir.iterdir()} == {"keys.json", old_id.removeprefix("sha256:") + ".pem"}
    assert b"PRIVATE" not in (keys_dir / (old_id.removeprefix("sha256:") + ".pem")).read_bytes()


def test_second_rotation_keeps_every_earlier_key(key_settings, tmp_path):
    keys_dir = tmp_path / "keys"
    key_settings.SIGNING_KEYS_DIR = str(keys_dir)
    first_id = certificate_keys.load_signing_key()[1]
    second_id = certificate_keys.rotate_key(keys_dir, now=T0)
    third_id = certificate_keys.rotate_key(keys_dir, now=ISSUED)
    keys = certificate_keys.verification_keys()
    assert [(k.keyid, k.valid_from, k.valid_until) for k in keys] == [
        (first_id, certificate_keys.EPOCH, T0),
        (second_id, T0, ISSUED),
        (third_id, ISSUED, None),
    ]


def test_tampered_retired_public_key_is_refused(key_settings, tmp_path):
    keys_dir = tmp_path / "keys"
    key_settings.SIGNING_KEYS_DIR = str(keys_dir)
    old_id = certificate_keys.load_signing_key()[1]
    certificate_keys.rotate_key(keys_dir, now=T0)
    (keys_dir / (old_id.removeprefix("sha256:") + ".pem")).write_bytes(certificate_keys.public_key_pem(OTHER_KEY))
    with pytest.raises(ImproperlyConfigured):
        certificate_keys.verification_keys()


def test_key_from_environment_cannot_be_rotated_in_place(key_settings, monkeypatch, tmp_path):
    monkeypatch.setenv("SIGNING_KEY", base64.b64encode(bytes(32)).decode())
    with pytest.raises(ImproperlyConfigured):
        certificate_keys.rotate_key(tmp_path / "keys")
    assert not (tmp_path / "keys").exists()


def test_rotate_command_replaces_the_key(key_settings, tmp_path, capsys):
    keys_dir = tmp_path / "keys"
    key_settings.SIGNING_KEYS_DIR = str(keys_dir)
    old_id = certificate_keys.load_signing_key()[1]

    call_command("rotate_signing_key", "--dry-run")
    assert certificate_keys.load_signing_key()[1] == old_id
    assert not keys_dir.exists()

    call_command("rotate_signing_key")
    new_id = certificate_keys.load_signing_key()[1]
    assert new_id != old_id
    assert new_id in capsys.readouterr().out
    assert set(json.loads((keys_dir / "keys.json").read_text())) == {old_id, new_id}
    assert os.listdir(key_settings.VAR_DIR) == [certificate_keys.DEV_KEY_NAME]
