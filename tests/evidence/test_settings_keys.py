"""The acceptance log's keys come from the environment: local and test have fixed development keys, production
refuses to start without real ones (each case in a fresh process, as tests/test_settings.py does)."""

import base64

import pytest

from tests.test_settings import LOCAL, PRODUCTION, PRODUCTION_ENV, production_without, refusal, run, settings_of

KEY = base64.b64encode(b"x" * 32).decode()


def test_production_starts_with_the_keys_and_reads_them():
    values = settings_of(
        PRODUCTION, "MCA_LOG_HMAC_KEYS", "MCA_LOG_HMAC_KEY_ID", "MCA_CHECKPOINT_SIGNING_KEY", **PRODUCTION_ENV
    )
    assert list(values["MCA_LOG_HMAC_KEYS"]) == ["k2026"] and values["MCA_LOG_HMAC_KEY_ID"] == "k2026"
    assert values["MCA_CHECKPOINT_SIGNING_KEY"].startswith("b'seed-for-the-production")


def test_production_refuses_to_start_without_the_mac_keys():
    assert "MCA_LOG_HMAC_KEYS must be set" in refusal(production_without("MCA_LOG_HMAC_KEYS"))


def test_production_refuses_a_key_id_that_names_no_key():
    message = refusal(production_without(MCA_LOG_HMAC_KEY_ID="k2030"))
    assert "MCA_LOG_HMAC_KEY_ID must name one of MCA_LOG_HMAC_KEYS' key ids (k2026), not 'k2030'" in message


@pytest.mark.parametrize(
    "value, expected",
    [
        ("k2026", "comma-separated <key id>=<base64 key> pairs"),
        ("k2026=short", "must be base64 of at least 32 random bytes"),
        (f"k2026={KEY},k2026={KEY}", "names key id 'k2026' twice"),
        (f"bad id={KEY}", "comma-separated <key id>=<base64 key> pairs"),
    ],
)
def test_malformed_mac_keys_are_refused_everywhere(value, expected):
    assert expected in refusal(production_without(MCA_LOG_HMAC_KEYS=value, MCA_LOG_HMAC_KEY_ID="k2026"))
    local = run("import django; django.setup()", LOCAL, MCA_LOG_HMAC_KEYS=value)
    assert local.returncode != 0 and expected in local.stderr


def test_production_refuses_the_development_keys():
    from config.settings.base import DEV_CHECKPOINT_SIGNING_KEY, DEV_LOG_HMAC_KEYS

    assert "holds the development key" in refusal(
        production_without(MCA_LOG_HMAC_KEYS=DEV_LOG_HMAC_KEYS, MCA_LOG_HMAC_KEY_ID="dev")
    )
    development_seed = production_without(MCA_CHECKPOINT_SIGNING_KEY=DEV_CHECKPOINT_SIGNING_KEY)
    assert "is the development key" in refusal(development_seed)


def test_production_refuses_to_start_without_the_checkpoint_signing_key():
    assert "MCA_CHECKPOINT_SIGNING_KEY must be set" in refusal(production_without("MCA_CHECKPOINT_SIGNING_KEY"))
    assert "exactly 32 random bytes" in refusal(
        production_without(MCA_CHECKPOINT_SIGNING_KEY=base64.b64encode(b"y" * 31).decode())
    )


def test_production_with_a_checkpoint_bucket_needs_django_storages():
    """django-storages and boto3 are the optional `s3` extra, not installed by default."""
    result = run(
        "import django; django.setup()",
        PRODUCTION,
        **production_without(MCA_CHECKPOINT_STORAGE="s3", MCA_CHECKPOINT_S3_BUCKET="b"),
    )
    try:
        import boto3  # noqa: F401
        import storages  # noqa: F401
    except ImportError:
        assert "MCA_CHECKPOINT_S3_BUCKET needs django-storages with boto3" in result.stderr
    else:
        assert result.returncode == 0, result.stderr


def test_local_has_fixed_development_keys_and_a_git_ignored_checkpoint_folder():
    values = settings_of(
        LOCAL, "MCA_LOG_HMAC_KEY_ID", "MCA_CHECKPOINT_DIR", "STORAGES", "MCA_CHECKPOINT_SECONDS", "CELERY_BEAT_SCHEDULE"
    )
    assert values["MCA_LOG_HMAC_KEY_ID"] == "dev"
    assert values["MCA_CHECKPOINT_DIR"].endswith("/checkpoints")
    storage = values["STORAGES"]["mca_checkpoints"]
    assert storage["BACKEND"] == "mca.checkpoints.WriteOnceFileSystemStorage"
    assert storage["OPTIONS"]["location"] == values["MCA_CHECKPOINT_DIR"]
    assert values["CELERY_BEAT_SCHEDULE"]["write-log-checkpoint"]["schedule"] == 60.0
    from tests.test_deploy_files import ROOT

    assert "checkpoints/" in (ROOT / ".gitignore").read_text().split()


def test_production_keeps_checkpoints_in_write_once_files_by_default():
    storage = settings_of(PRODUCTION, "STORAGES", **PRODUCTION_ENV)["STORAGES"]["mca_checkpoints"]
    assert storage["BACKEND"] == "mca.checkpoints.WriteOnceFileSystemStorage"
    assert storage["OPTIONS"]["file_permissions_mode"] == 0o444


def test_production_requires_an_object_lock_bucket_unless_the_folder_is_chosen_explicitly():
    message = refusal(production_without("MCA_CHECKPOINT_STORAGE"))
    assert "MCA_CHECKPOINT_S3_BUCKET must be set" in message and "MCA_CHECKPOINT_STORAGE=folder" in message
    assert "must be 's3' or 'folder'" in refusal(production_without(MCA_CHECKPOINT_STORAGE="tape"))
    values = settings_of(PRODUCTION, "STORAGES", **production_without(MCA_CHECKPOINT_STORAGE="folder"))
    assert values["STORAGES"]["mca_checkpoints"]["BACKEND"] == "mca.checkpoints.WriteOnceFileSystemStorage"
