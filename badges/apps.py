from django.apps import AppConfig


class BadgesConfig(AppConfig):
    name = "badges"

    def ready(self) -> None:
        from badges.wording import badge_name_shown
        from loyalty.reasons import param_wording_register

        param_wording_register("badge", badge_name_shown)  # the bonus memo's badge, in the reader's language
