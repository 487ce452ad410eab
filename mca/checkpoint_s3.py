"""Checkpoints in an S3 bucket with Object Lock (production's default storage, MCA_CHECKPOINT_S3_BUCKET).

Each checkpoint object is written with Object Lock in COMPLIANCE mode and its own retention date
(MCA_CHECKPOINT_RETENTION_DAYS from the write): until then nobody — not the application's credentials, not the
bucket's owner, not AWS support — can delete that version or shorten its retention. The application's credentials
need only s3:PutObject, s3:PutObjectRetention (for a PutObject carrying a retention), s3:GetObject, s3:ListBucket
and s3:GetBucketObjectLockConfiguration (docs/settings.md; docs/evidence.md says which of this moto's tests prove);
a delete marker (the one thing a DeleteObject without a version id can add, if granted) hides an object from the
listing but leaves its locked version, and verification treats the checkpoints it hides as absent: a break.
Objects are keyed by day (<log>/checkpoints/YYYY/MM/DD/…, mca.checkpoints), so no listing spans the whole bucket.

Needs django-storages with boto3 (`pip install "mca-acceptance[s3]"`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from storages.backends.s3 import S3Storage


class ObjectLockS3Storage(S3Storage):
    """S3Storage whose every object is locked in compliance mode for `retention_days` from its write, and which
    never replaces an object (a name that exists is refused, as the write-once folder does)."""

    def __init__(self, *, retention_days: int = 3650, **options: Any) -> None:
        if retention_days < 1:
            raise ImproperlyConfigured("MCA_CHECKPOINT_RETENTION_DAYS must be 1 or more.")
        self.retention_days = retention_days
        super().__init__(**{"file_overwrite": False, **options})

    def get_object_parameters(self, name: str) -> dict[str, Any]:
        parameters = super().get_object_parameters(name)
        parameters["ObjectLockMode"] = "COMPLIANCE"
        parameters["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(days=self.retention_days)
        return parameters

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        if self.exists(name):
            raise FileExistsError(f"{name} exists: checkpoint objects are written once")
        return name

    def object_lock_problem(self) -> str | None:
        """Why the bucket cannot keep checkpoints out of reach (object lock off), or None."""
        client = self.connection.meta.client
        try:
            configuration = client.get_object_lock_configuration(Bucket=self.bucket_name)
        except client.exceptions.ClientError as error:
            return f"bucket {self.bucket_name!r} has no object lock configuration ({error})"
        if configuration.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") != "Enabled":
            return f"bucket {self.bucket_name!r} does not have object lock enabled"
        return None
