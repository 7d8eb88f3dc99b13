"""Create the three role groups, and make the audit table append-only in the database too."""

from django.db import migrations

ROLES = ("data-scientist", "reviewer", "admin")

SQLITE_FORWARD = [
    """CREATE TRIGGER mlops_audit_no_update BEFORE UPDATE ON mlops_site_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;""",
]
SQLITE_BACKWARD = ["DROP TRIGGER IF EXISTS mlops_audit_no_update;"]

# DELETE is blocked too on PostgreSQL; TRUNCATE (the test-suite flush) is not a row trigger.
POSTGRES_FORWARD = [
    """CREATE OR REPLACE FUNCTION mlops_audit_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit events are append-only'; END; $$ LANGUAGE plpgsql;""",
    """CREATE TRIGGER mlops_audit_append_only BEFORE UPDATE OR DELETE ON mlops_site_auditevent
       FOR EACH ROW EXECUTE FUNCTION mlops_audit_append_only();""",
]
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS mlops_audit_append_only ON mlops_site_auditevent;",
    "DROP FUNCTION IF EXISTS mlops_audit_append_only();",
]


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def add_triggers(apps, schema_editor):
    statements = {"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}.get(schema_editor.connection.vendor, [])
    for sql in statements:
        schema_editor.execute(sql)


def drop_triggers(apps, schema_editor):
    statements = {"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}.get(schema_editor.connection.vendor, [])
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("mlops_site", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(create_roles, migrations.RunPython.noop),
        migrations.RunPython(add_triggers, drop_triggers),
    ]
