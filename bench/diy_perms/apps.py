from django.apps import AppConfig


class DiyPermsConfig(AppConfig):
    name = "bench.diy_perms"
    label = "bench_diy_perms"
    default_auto_field = "django.db.models.BigAutoField"
