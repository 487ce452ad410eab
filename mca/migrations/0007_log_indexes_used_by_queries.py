"""Keep only the acceptance log's indexes that a query uses (`python -m benchmarks indexes` shows each plan at 1M).

Dropped (no plan at 1M records uses them): 452 MB of index per million records, 762 -> 310 bytes a record.
- the (account, -created_at) and (reseller, -created_at) composites: every list is ordered by sequence, so the
  foreign keys' own indexes on account_id and reseller_id serve the same filters;
- (channel, -created_at) and (evidence_class, -created_at), replaced by one-column indexes: the lists scan
  sequence backwards; only the admin's filtered counts use them (index-only scans), which need no second column;
- btrees on email, last_name, account_name: the searches are `icontains`, served by the trigram indexes (0003);
- attestation_id: no query looks a record up by it (attestations are found through `Attestation`);
- the unique constraint on entry_hash and its `varchar_pattern_ops` twin (PostgreSQL): no query looks a record
  up by its hash, and the hashed content includes the unique sequence;
- the `varchar_pattern_ops` twin of idempotency_key's unique index (PostgreSQL): the replay check is an equality,
  which the unique index serves.

Plain (not concurrent) index builds, as in 0003: on a big live table, build the two new indexes CONCURRENTLY by
hand first.
"""

from django.db import migrations, models

from mca.db import install_sqlite_triggers

# Django's name for the `varchar_pattern_ops` index it adds beside a unique CharField on PostgreSQL (0001).
IDEMPOTENCY_LIKE_INDEX = "mca_acceptancerecord_idempotency_key_65ab0173_like"


def drop_idempotency_like_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {IDEMPOTENCY_LIKE_INDEX}")


def create_idempotency_like_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {IDEMPOTENCY_LIKE_INDEX} "
            "ON mca_acceptancerecord (idempotency_key varchar_pattern_ops)"
        )


def reinstall_sqlite_triggers(apps, schema_editor):
    # Altering a column on SQLite rebuilds the table, which drops its triggers: put the append-only ones back.
    if schema_editor.connection.vendor == "sqlite":
        install_sqlite_triggers(schema_editor.connection.cursor())


class Migration(migrations.Migration):
    dependencies = [("mca", "0006_record_mac")]

    operations = [
        migrations.RemoveIndex(model_name="acceptancerecord", name="mca_record_account_created"),
        migrations.RemoveIndex(model_name="acceptancerecord", name="mca_record_reseller_created"),
        migrations.RemoveIndex(model_name="acceptancerecord", name="mca_record_channel_created"),
        migrations.RemoveIndex(model_name="acceptancerecord", name="mca_record_evidence_created"),
        migrations.RemoveIndex(model_name="acceptancerecord", name="mca_record_email"),
        migrations.RemoveIndex(model_name="acceptancerecord", name="mca_record_last_name"),
        migrations.RemoveIndex(model_name="acceptancerecord", name="mca_record_account_name"),
        migrations.RemoveIndex(model_name="acceptancerecord", name="mca_record_attestation"),
        migrations.AlterField(
            model_name="acceptancerecord", name="entry_hash", field=models.CharField(max_length=64)
        ),
        migrations.RunPython(drop_idempotency_like_index, create_idempotency_like_index, elidable=False),
        migrations.AddIndex(
            model_name="acceptancerecord", index=models.Index(fields=["channel"], name="mca_record_channel")
        ),
        migrations.AddIndex(
            model_name="acceptancerecord",
            index=models.Index(fields=["evidence_class"], name="mca_record_evidence"),
        ),
        migrations.RunPython(reinstall_sqlite_triggers, migrations.RunPython.noop),
    ]
