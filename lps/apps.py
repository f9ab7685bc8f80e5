from django.apps import AppConfig


class LpsConfig(AppConfig):
    name = "lps"
    verbose_name = "LPs"
