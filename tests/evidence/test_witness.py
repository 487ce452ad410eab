"""Witnesses (issue 17): the signed checkpoints and the full public key are published at /.well-known/mca-log/;
`mca_witness` (mca.witness) fetches them, keeps what it saw, and names a fork — two signed heads for one sequence,
a head that is not an extension of one seen before, a rollback."""

import base64
import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from mca.checkpoints import _save, raw_public_key, sign_checkpoint
from mca.evidence_verify import fetch_public_keys
from mca.verify import write_checkpoint
from mca.witness import Seen, witness

pytestmark = pytest.mark.django_db
ROOT = "/.well-known/mca-log/"


def fetcher(client: Client):
    def fetch(relative: str):
        response = client.get(ROOT + relative)
        assert response.status_code == 200, response.content
        return response.json()

    return fetch


def key_holder_signs(sequence: int, head_hash: str) -> None:
    """What only someone with the signing key can do: sign any head and store it."""
    checkpoint = sign_checkpoint(sequence=sequence, head_hash=head_hash)
    _save("checkpoints", sequence, timezone.now(), checkpoint.file_json())


def test_the_public_key_and_signed_checkpoints_are_published_without_login(records, client):
    checkpoint = write_checkpoint().checkpoint
    published = client.get(ROOT).json()
    assert base64.b64decode(published["public_key"]) == raw_public_key()
    assert published["key_id"] == checkpoint.key_id
    assert published["latest_checkpoint"]["checkpoint"] == checkpoint.body()
    [name] = client.get(ROOT + "checkpoints/").json()
    assert client.get(ROOT + f"checkpoints/{name}").json() == checkpoint.file_json()
    assert client.get(ROOT + "checkpoints/nope.json").status_code == 404
    links = client.get(ROOT + "links/?after=0&to=3").json()
    assert [link["sequence"] for link in links] == [1, 2, 3] and links[-1]["entry_hash"] == checkpoint.head_hash
    assert "first_name" not in links[0] and "email" not in links[0]  # links, never content
    assert client.get(ROOT + "links/?after=3&to=1").status_code == 400


def test_a_witness_keeps_what_it_saw_and_checks_each_new_head_extends_it(records, confirm, client):
    write_checkpoint()
    report, seen = witness(fetcher(client), None)
    assert report.ok and report.checked == 1 and seen.newest()[0] == 3
    confirm("litware", "bss")
    write_checkpoint()
    report, seen = witness(fetcher(client), seen)
    assert report.ok, report.forks
    assert seen.newest()[0] == 4


def test_two_signed_heads_for_one_sequence_are_a_fork(records, client):
    write_checkpoint()
    _, seen = witness(fetcher(client), None)
    key_holder_signs(3, "f" * 64)
    report, _ = witness(fetcher(client), seen)
    assert not report.ok
    assert (
        report.forks[0].startswith("fork at #3: checkpoint ")
        and "was signed for the same sequence before" in (report.forks[0])
    )


def test_a_head_that_does_not_extend_the_one_seen_is_a_fork(records, confirm, client):
    write_checkpoint()
    _, seen = witness(fetcher(client), None)
    confirm("litware", "bss")
    key_holder_signs(4, "e" * 64)  # a head the log's links do not lead to
    report, _ = witness(fetcher(client), seen)
    assert report.forks == [
        "fork: the head at #4 is not an extension of the head seen at #3 (the links end at #4 with "
        f"{records[0].__class__.objects.get(sequence=4).entry_hash[:16]}…)"
    ]


def test_a_rollback_and_a_new_key_are_named(records, client, settings):
    write_checkpoint()
    _, seen = witness(fetcher(client), None)
    assert seen.newest()[0] == 3
    rolled_back = Seen(seen.log_id, seen.key_id, {"7": "a" * 64})
    report, _ = witness(fetcher(client), rolled_back)
    assert any(fork.startswith("rollback: the newest published checkpoint is at #3") for fork in report.forks)
    settings.MCA_CHECKPOINT_SIGNING_KEY = b"n" * 32
    report, _ = witness(fetcher(client), seen)
    assert report.forks[0].startswith("the log is now signed with key ed25519:")


def test_the_command_witnesses_over_http_and_exits_non_zero_on_a_fork(records, live_server, tmp_path):
    write_checkpoint()
    # The pack's stdlib verifier reads the same publication (verify.py --key-url).
    assert fetch_public_keys(f"{live_server.url}/.well-known/mca-log/") == [raw_public_key(), raw_public_key()]
    out = io.StringIO()
    call_command("mca_witness", live_server.url, "--store", str(tmp_path), stdout=out)
    assert "1 checkpoint(s) verified; newest head seen #3; no fork" in out.getvalue()
    assert len(list(tmp_path.glob("*.json"))) == 1
    key_holder_signs(3, "f" * 64)
    with pytest.raises(CommandError, match="FORK: fork at #3"):
        call_command("mca_witness", live_server.url, "--store", str(tmp_path), stdout=io.StringIO())


# --- the public endpoints are throttled per client address (429 with Retry-After) ---


@pytest.fixture
def tight_log_rates(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "mca-log": "3/minute",
            "mca-log-links": "2/minute",
        },
    }


def test_links_are_throttled_per_client_with_retry_after(records, client, tight_log_rates):
    write_checkpoint()
    url = ROOT + "links/?after=0&to=3"
    assert [client.get(url).status_code for _ in range(2)] == [200, 200]
    # Neither a fresh X-Forwarded-For (no proxy is configured to vouch for it) nor a bad query gets past it.
    refused = client.get(url, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60 and "retry after" in refused.json()["detail"]
    assert client.get(ROOT + "links/?after=x&to=1").status_code == 429
    # Another address has its own allowance; the other endpoints count in their own scope.
    assert client.get(url, REMOTE_ADDR="198.51.100.7").status_code == 200
    assert client.get(ROOT).status_code == 200


@pytest.mark.parametrize("path", ["", "checkpoints/", "checkpoints/{name}"])
def test_the_publication_list_and_files_are_throttled(records, client, tight_log_rates, path):
    name = write_checkpoint().checkpoint.name.rsplit("/", 1)[-1]
    url = ROOT + path.format(name=name)
    assert [client.get(url).status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get(url)
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1


def test_behind_a_counted_proxy_the_forwarded_address_is_the_client(records, client, settings, tight_log_rates):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    url = ROOT + "links/?after=0&to=1"
    statuses = [client.get(url, HTTP_X_FORWARDED_FOR="203.0.113.9").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert client.get(url, HTTP_X_FORWARDED_FOR="203.0.113.10").status_code == 200
