from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("notes/new/", views.new_note, name="new-note"),
    path("accounts/register/", views.register, name="register"),
    path("accounts/", include("django.contrib.auth.urls")),
]
