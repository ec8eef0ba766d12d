from django.db import migrations


def seed(apps, schema_editor):
    from certification.framework.seed import seed_framework

    seed_framework(apps.get_model("certification", "FrameworkVersion"), apps.get_model("certification", "Benchmark"))


class Migration(migrations.Migration):
    dependencies = [("certification", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
