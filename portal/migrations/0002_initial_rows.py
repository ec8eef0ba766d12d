from django.db import migrations


def create_rows(apps, schema_editor):
    apps.get_model("portal", "AuditChainHead").objects.get_or_create(pk=1)
    apps.get_model("auth", "Group").objects.get_or_create(name="Alliance staff")


class Migration(migrations.Migration):
    dependencies = [("portal", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create_rows, migrations.RunPython.noop)]
