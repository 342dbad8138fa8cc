from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "loyalty.notifications"
    label = "notifications"
    verbose_name = "Notifications"
