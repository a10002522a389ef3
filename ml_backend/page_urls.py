"""Page routes of the ML layer (model page)."""

urlpatterns: list = []
