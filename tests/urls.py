from django.urls import include, path

urlpatterns = [
    path("health/", include("django_deploykit.health.urls")),
    path("", include("blog.urls")),
]
