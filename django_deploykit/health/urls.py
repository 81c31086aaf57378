"""``path("health/", include("django_deploykit.health.urls"))``: one include, four URLs."""

from __future__ import annotations

from django.urls import path

from django_deploykit.health import views

app_name = "deploykit_health"

urlpatterns = [
    path("", views.ready, name="ready"),
    path("live/", views.live, name="live"),
    path("ready/", views.ready, name="ready-tier"),
    path("startup/", views.startup, name="startup"),
]
