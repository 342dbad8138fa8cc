"""Demo badges: the four milestones of the issue, three with bonus points, awarded once to whoever meets them."""

from badges.models import Badge
from badges.services import badges_award

BADGES = (
    # rule, threshold, bonus points
    (Badge.Rule.DEALS_WON, 1, 100),
    (Badge.Rule.CERTIFICATIONS, 5, 250),
    (Badge.Rule.MONTHS_IN_PROGRAM, 12, 0),
    (Badge.Rule.TIER_UPGRADES, 1, 150),
)


def seed_badges() -> None:
    """The program's badges, then the first award run (idempotent: a re-run adds nothing)."""
    for position, (rule, threshold, bonus_points) in enumerate(BADGES):
        Badge.objects.get_or_create(
            rule=rule, threshold=threshold, defaults={"bonus_points": bonus_points, "position": position}
        )
    badges_award()
