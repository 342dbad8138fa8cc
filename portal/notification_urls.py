from django.urls import path

from portal import notifications

urlpatterns = [
    path("", notifications.inbox, name="notifications"),
    path("<int:notification_id>/open/", notifications.open_notification, name="notification_open"),
    path("read/", notifications.read_all, name="notifications_read_all"),
    path("settings/", notifications.preferences, name="notification_preferences"),
    path("unsubscribe/<str:token>/", notifications.unsubscribe_view, name="notifications_unsubscribe"),
]
