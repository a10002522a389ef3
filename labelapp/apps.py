from django.apps import AppConfig


class LabelappConfig(AppConfig):
    name = "labelapp"
    verbose_name = "Earmark"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from labelapp.dbfunctions import register_sqlite_functions

        connection_created.connect(register_sqlite_functions, dispatch_uid="earmark-sqlite-fold")
