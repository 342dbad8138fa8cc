"""Client secrets stored encrypted (loyalty/encryption.py): the column becomes text, and each saved secret is
written again, encrypted. Backwards, each is written back as plaintext."""

from django.db import migrations

import loyalty.encryption


def encrypt_saved(apps, schema_editor) -> None:  # noqa: ANN001 - a migration's signature
    provider = apps.get_model("sso", "IdentityProvider")
    for row in provider._base_manager.using(schema_editor.connection.alias).exclude(client_secret=""):
        row.save(update_fields=["client_secret"])  # read as plaintext (no prefix yet), written encrypted


def decrypt_saved(apps, schema_editor) -> None:  # noqa: ANN001 - a migration's signature
    provider = apps.get_model("sso", "IdentityProvider")
    table = provider._meta.db_table
    rows = provider._base_manager.using(schema_editor.connection.alias).exclude(client_secret="")
    with schema_editor.connection.cursor() as cursor:
        for pk, secret in rows.values_list("pk", "client_secret"):
            cursor.execute(f"UPDATE {table} SET client_secret = %s WHERE id = %s", [secret, pk])  # noqa: S608


class Migration(migrations.Migration):
    dependencies = [
        ("sso", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="identityprovider",
            name="client_secret",
            field=loyalty.encryption.EncryptedTextField(blank=True, max_length=500, verbose_name="client secret"),
        ),
        migrations.RunPython(encrypt_saved, decrypt_saved),
    ]
