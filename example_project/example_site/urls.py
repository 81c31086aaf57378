from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", include("django_deploykit.health.urls")),
    path("", include("blog.urls")),
]
