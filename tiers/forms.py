"""Form pieces for items gated by a minimum tier (rewards, enablement): chosen by name, stored as a rank."""

from django import forms
from django.db.models import OuterRef, Subquery
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from tiers.models import Tier, TierModel
from tiers.selectors import tier_names_by_rank


def minimum_tier_field(*, label: str | Promise) -> forms.TypedChoiceField:
    """The lowest tier as a select of the program's tiers by name, not a typed rank (issue 17, item 23)."""
    return forms.TypedChoiceField(
        label=label,
        choices=[("", _("Any tier")), *sorted(tier_names_by_rank().items())],
        coerce=int,
        empty_value=None,
        required=False,
    )


def minimum_tier_name() -> Subquery:
    """Annotation: the active model's name for the row's `minimum_tier_rank` (for admin lists)."""
    in_force = Tier.objects.filter(rank=OuterRef("minimum_tier_rank"), model__status=TierModel.Status.ACTIVE)
    return Subquery(in_force.values("name")[:1])
