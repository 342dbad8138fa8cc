from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BadgesConfig(AppConfig):
    name = "badges"
    verbose_name = _("Badges")

    def ready(self) -> None:
        from badges.wording import badge_name_shown
        from loyalty.reasons import param_wording_register

        param_wording_register("badge", badge_name_shown)  # the bonus memo's badge, in the reader's language
