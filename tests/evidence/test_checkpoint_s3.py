"""Checkpoints in an S3 bucket with Object Lock (compliance mode, retention per object), against a real S3
implementation running locally: moto in server mode, spoken to over HTTP by boto3 (no mock of boto)."""

import json
import socket
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.utils import timezone

boto3 = pytest.importorskip("boto3")
requests = pytest.importorskip("requests")
pytest.importorskip("storages")
moto_server = pytest.importorskip("moto.server")

from botocore.exceptions import ClientError  # noqa: E402

from mca.chain import BreakKind  # noqa: E402
from mca.checkpoints import checkpoint_storage, latest_checkpoint, load_checkpoints  # noqa: E402
from mca.verify import verify_chain, write_checkpoint  # noqa: E402

pytestmark = pytest.mark.django_db
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint):
    return boto3.client("s3", endpoint_url=s3_endpoint, **CREDENTIALS)


def use_bucket(settings, s3, s3_endpoint, *, name: str, object_lock: bool = True) -> str:
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock)
    settings.STORAGES = {
        **settings.STORAGES,
        "mca_checkpoints": {
            "BACKEND": "mca.checkpoint_s3.ObjectLockS3Storage",
            "OPTIONS": {
                "bucket_name": name,
                "endpoint_url": s3_endpoint,
                "access_key": CREDENTIALS["aws_access_key_id"],
                "secret_key": CREDENTIALS["aws_secret_access_key"],
                "region_name": CREDENTIALS["region_name"],
                "retention_days": 30,
                "default_acl": None,
            },
        },
    }
    return name


@pytest.fixture
def bucket(request, settings, s3, s3_endpoint):
    return use_bucket(settings, s3, s3_endpoint, name=f"mca-checkpoints-{abs(hash(request.node.name)) % 10**8}")


def test_each_checkpoint_is_locked_in_compliance_mode_for_its_retention(records, bucket, s3):
    checkpoint = write_checkpoint().checkpoint
    head = s3.head_object(Bucket=bucket, Key=checkpoint.name)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    retained = head["ObjectLockRetainUntilDate"] - datetime.now(UTC)
    assert timedelta(days=29) < retained <= timedelta(days=30)
    assert checkpoint_storage().object_lock_problem() is None
    assert latest_checkpoint() == checkpoint
    result = verify_chain()
    assert result.ok and result.checkpoints_checked == 1


def test_the_applications_credentials_cannot_delete_a_checkpoint_version(records, bucket, s3):
    name = write_checkpoint().checkpoint.name
    version = s3.head_object(Bucket=bucket, Key=name)["VersionId"]
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=bucket, Key=name, VersionId=version)
    # Shortening a compliance-mode retention is refused by S3 itself (AWS: "no user, including the root user,
    # can ... shorten its retention period"); moto 5.2.5 does not enforce that rule, so it is not asserted here.
    assert s3.get_object(Bucket=bucket, Key=name, VersionId=version)["Body"].read()
    # An object is never replaced through the storage either.
    with pytest.raises(FileExistsError, match="written once"):
        checkpoint_storage().save(name, ContentFile(b"{}"))


def test_a_delete_marker_hides_a_checkpoint_but_absence_is_a_break(records, bucket, s3):
    """A DeleteObject without a version id adds a delete marker (the locked version stays): the listing no longer
    shows the checkpoint, and verification names the records it covered as uncovered."""
    name = write_checkpoint().checkpoint.name
    s3.delete_object(Bucket=bucket, Key=name)
    assert latest_checkpoint() is None
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        assert [b.kind for b in verify_chain().breaks] == [BreakKind.UNCOVERED]
    assert len(s3.list_object_versions(Bucket=bucket, Prefix=name)["Versions"]) == 1  # still there, locked


def test_a_bucket_without_object_lock_is_named_and_refuses_the_write(records, settings, s3, s3_endpoint):
    use_bucket(settings, s3, s3_endpoint, name="mca-no-lock", object_lock=False)
    assert "does not have object lock enabled" in (checkpoint_storage().object_lock_problem() or "") or (
        "no object lock configuration" in (checkpoint_storage().object_lock_problem() or "")
    )
    with pytest.raises(ClientError):
        write_checkpoint()


def test_checkpoints_are_partitioned_by_day_and_flat_objects_are_still_read(confirm, bucket, s3, client):
    """Keys <log>/checkpoints/YYYY/MM/DD/<name>; the flat keys of the layout before still verify and are served."""
    days = [datetime(2027, 1, 31, 12, tzinfo=UTC), datetime(2027, 2, 1, 12, tzinfo=UTC)]
    names = []
    for day in days:
        with time_machine.travel(day, tick=False):
            confirm("northwind", "customer")
            names.append(write_checkpoint().checkpoint.name)
    assert [name.rsplit("/", 1)[0] for name in names] == [
        "mca-test-log/checkpoints/2027/01/31",
        "mca-test-log/checkpoints/2027/02/01",
    ]
    # The first as the flat layout had it (its partitioned key hidden by a delete marker: the version stays locked).
    flat = "mca-test-log/checkpoints/" + names[0].rsplit("/", 1)[-1]
    s3.copy_object(Bucket=bucket, Key=flat, CopySource={"Bucket": bucket, "Key": names[0]})
    s3.delete_object(Bucket=bucket, Key=names[0])
    with time_machine.travel(days[-1] + timedelta(minutes=1)):
        assert [c.name for c in load_checkpoints().checkpoints] == [flat, names[1]]
        assert latest_checkpoint().name == names[1]
        assert verify_chain().ok
        # Incremental from the newest checkpoint: the bucket is listed from the day before it, not wholly.
        result = verify_chain(start=latest_checkpoint())
        assert result.ok and result.checkpoints_checked == 1
    short = flat.rsplit("/", 1)[-1]
    assert client.get("/.well-known/mca-log/checkpoints/").json() == [short, names[1].rsplit("/", 1)[-1]]
    assert client.get(f"/.well-known/mca-log/checkpoints/{short}").json()["checkpoint"]["sequence"] == 1


# --- the application's credentials, with IAM enforced (moto's server checks IAM policies once /moto-api/reset-auth
# sets INITIAL_NO_AUTH_ACTION_COUNT; before that, every request is allowed) ---

APP_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            # AWS wants s3:PutObjectRetention for a PutObject that carries a retention (moto maps both to PutObject).
            "Action": ["s3:PutObject", "s3:PutObjectRetention", "s3:GetObject", "s3:GetBucketObjectLockConfiguration"],
            "Resource": ["arn:aws:s3:::{bucket}/*"],
        },
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": ["arn:aws:s3:::{bucket}"]},
    ],
}


@contextmanager
def iam_enforced(s3_endpoint):
    """IAM checked on every request from here on; back to moto's default (nothing checked) afterwards, so the
    module's other tests keep their unauthenticated "testing" credentials."""
    reset = requests.post(f"{s3_endpoint}/moto-api/reset-auth", data=b"0", timeout=10)
    previous = reset.json()["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]
    try:
        yield
    finally:
        requests.post(f"{s3_endpoint}/moto-api/reset-auth", data=previous.encode(), timeout=10)


def test_the_applications_iam_policy_writes_and_reads_but_cannot_delete(records, settings, s3, s3_endpoint):
    """The README's policy for the application (docs/evidence.md "What moto enforces"): with it, checkpoints are
    written and verified; deleting a checkpoint's version, hiding it behind a delete marker, suspending
    versioning, changing the bucket's lock configuration and deleting the bucket are refused by IAM."""
    bucket = use_bucket(settings, s3, s3_endpoint, name="mca-checkpoints-iam")
    iam = boto3.client("iam", endpoint_url=s3_endpoint, **CREDENTIALS)
    iam.create_user(UserName="mca-app")
    policy = json.dumps(APP_POLICY).replace("{bucket}", bucket)
    arn = iam.create_policy(PolicyName="mca-app-checkpoints", PolicyDocument=policy)["Policy"]["Arn"]
    iam.attach_user_policy(UserName="mca-app", PolicyArn=arn)
    key = iam.create_access_key(UserName="mca-app")["AccessKey"]
    options = settings.STORAGES["mca_checkpoints"]["OPTIONS"]
    options.update(access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    app = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name="us-east-1",
    )
    with iam_enforced(s3_endpoint):
        name = write_checkpoint().checkpoint.name
        assert verify_chain().ok and latest_checkpoint().name == name
        version = app.head_object(Bucket=bucket, Key=name)["VersionId"]
        refused = {
            "delete the version": lambda: app.delete_object(Bucket=bucket, Key=name, VersionId=version),
            "add a delete marker": lambda: app.delete_object(Bucket=bucket, Key=name),
            "suspend versioning": lambda: app.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Suspended"}
            ),
            "change the lock configuration": lambda: app.put_object_lock_configuration(
                Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}
            ),
            "delete the bucket": lambda: app.delete_bucket(Bucket=bucket),
        }
        for attempt, call in refused.items():
            with pytest.raises(ClientError, match="AccessDenied"):
                call()
            assert attempt  # named in the failure above
    assert s3.get_object(Bucket=bucket, Key=name, VersionId=version)["Body"].read()
