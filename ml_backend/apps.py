from django.apps import AppConfig


class MlBackendConfig(AppConfig):
    name = "ml_backend"
    verbose_name = "ML backend"
