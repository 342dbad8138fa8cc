from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("rewards", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="giftcode",
            name="code_digest",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddConstraint(
            model_name="giftcode",
            constraint=models.UniqueConstraint(fields=("tenant", "reward", "code_digest"), name="gift_code_once_per_pool"),
        ),
    ]
