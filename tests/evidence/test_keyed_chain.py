"""Hash version 3: the content digest chained apart from the link, and a MAC per record with a key the database
does not hold. Pinned bytes, the seal on append, SQL and Python agreeing, older versions untouched."""

import hashlib
import hmac

import pytest

from mca.chain import (
    CONTENT_FIELDS_V3,
    HASHED_FIELDS_V3,
    _postgresql_hashed_rows,
    _python_hashed_rows,
    canonical_bytes,
    content_digest,
    entry_hash,
    log_keys,
    mac_for,
    record_values,
)
from mca.models import AcceptanceRecord
from mca.verify import verify_chain
from tests.mca.test_log_immutability import _pinned_values

pytestmark = pytest.mark.django_db

DEV_KEY = b"dev-only-mca-log-hmac-key-000000000"


def _v3_values() -> list:
    values = _pinned_values()
    values.update(
        hash_version=3,
        prev_hash="ab" * 32,
        event="form_submitted",
        attestation_id="",
        signatory_company="Adventure Works",
        authority_declared=True,
        link_expires_at=None,
        microsoft_answer="",
    )
    return [values[name] for name in HASHED_FIELDS_V3]


def test_version_3_canonical_bytes_leave_out_prev_hash_and_are_pinned():
    body = canonical_bytes(_v3_values(), 3)
    assert body == (
        b"mca-acceptance-log/v3\n1:11:327:2026-11-02T14:10:05.123456Z~1:78:reseller0:8:reseller0:1:315:"
        b"Adventure Works~0:0:19:reseller_storefront0:0:0:0:0:1:00:0:0:0:4:J\xc3\xb6hn0:0:0:10:2026-11-020:0:0:0:1:0"
        b"14:form_submitted0:15:Adventure Works1:1~0:"
    )
    assert b"ab" * 32 not in body
    assert len(CONTENT_FIELDS_V3) == len(HASHED_FIELDS_V3) - 1 and "prev_hash" not in CONTENT_FIELDS_V3


def test_version_3_digest_entry_hash_and_mac_are_pinned():
    values = _v3_values()
    digest = content_digest(values, 3)
    assert digest == hashlib.sha256(canonical_bytes(values, 3)).hexdigest()
    assert digest == "e1e2b074ef78c0fbf6c56e66e93a3971a1115cda3a790258c8456dd94a79bf56"
    link = hashlib.sha256(b"mca-acceptance-log/v3\n" + b"ab" * 32 + digest.encode()).hexdigest()
    assert entry_hash(values, 3) == link == "cf0528c381d24b9b2df4fc96148d98553ccaa3d93c8caf1a0ef5c075aaa5c2b2"
    assert mac_for(link, DEV_KEY) == hmac.new(DEV_KEY, link.encode(), hashlib.sha256).hexdigest()
    assert mac_for(link, DEV_KEY) == "8dcf2aa6ae95df654ceff054922434eb8bbe616dec5f36d8df61414b840cbdd4"


def test_the_link_needs_only_prev_hash_and_content_digest():
    """A chain proof carries (prev_hash, content_digest, entry_hash) of the records between, never their content."""
    values = _v3_values()
    other = list(values)
    other[HASHED_FIELDS_V3.index("first_name")] = "Somebody else"
    assert content_digest(other, 3) != content_digest(values, 3)
    relinked = list(values)
    relinked[HASHED_FIELDS_V3.index("prev_hash")] = "cd" * 32
    assert content_digest(relinked, 3) == content_digest(values, 3)
    assert entry_hash(relinked, 3) != entry_hash(values, 3)


def test_append_seals_each_record_with_the_current_key(records):
    for record in records:
        assert (record.hash_version, record.key_id) == (3, "dev")
        assert record.entry_hash == entry_hash(record_values(record), 3)
        assert record.mac == hmac.new(log_keys()["dev"], record.entry_hash.encode(), hashlib.sha256).hexdigest()
    assert records[1].prev_hash == records[0].entry_hash
    result = verify_chain()
    assert result.ok and result.checked == 3 and result.last_hash == records[-1].entry_hash


def test_a_rotated_key_keeps_verifying_old_records(settings, confirm):
    old = confirm("northwind", "customer")
    settings.MCA_LOG_HMAC_KEYS = {**settings.MCA_LOG_HMAC_KEYS, "k2027": b"k" * 32}
    settings.MCA_LOG_HMAC_KEY_ID = "k2027"
    new = confirm("litware", "reseller")
    assert (old.key_id, new.key_id) == ("dev", "k2027")
    assert verify_chain().ok


def test_a_retired_key_missing_from_the_settings_is_named(settings, confirm):
    record = confirm("northwind", "customer")
    settings.MCA_LOG_HMAC_KEYS = {"k2027": b"k" * 32}
    settings.MCA_LOG_HMAC_KEY_ID = "k2027"
    result = verify_chain()
    assert (result.first_break.sequence, result.first_break.record_id, result.first_break.kind) == (
        1,
        record.pk,
        "mac",
    )
    assert "names MAC key 'dev', which is not among MCA_LOG_HMAC_KEYS" in result.first_break.problem


def test_records_are_read_with_the_key_and_mac_columns(records):
    row = AcceptanceRecord.objects.filter(pk=records[0].pk).values_list("key_id", "mac").get()
    assert row == ("dev", records[0].mac) and len(row[1]) == 64


@pytest.mark.postgres
def test_postgresql_and_python_agree_on_version_3(confirm, demo, demo_user):
    """The SQL fast path builds the v3 content digest and link hash byte for byte as Python does."""
    confirm("tailspin", "wl-customer", first_name="Zoë", last_name="O'Brien-Łukasz")
    confirm("litware", "reseller")
    in_python = list(_python_hashed_rows(10))
    in_sql = list(_postgresql_hashed_rows(10))
    assert len(in_sql) == 2 and in_sql == in_python
    assert all(row[3] == 3 and row[-2] == row[-1] for row in in_sql)
    assert verify_chain().ok
