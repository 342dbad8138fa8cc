"""What publishing a draft would do, said before it is done: when it takes effect, who moves, what it costs, and
what stops it. Read-only; the admin's and the designer's confirmation pages show it."""

from dataclasses import dataclass
from datetime import date

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from tiers.models import TierModel
from tiers.services import protection_end, tier_model_for
from tiers.simulation import SimulationResult, simulate
from tiers.validation import Problem, model_problems


@dataclass(frozen=True)
class PublicationPlan:
    model: TierModel
    scheduled: bool  # its date is ahead: Scheduled, the model in force stays active until then
    in_force: TierModel | None  # the model partners are evaluated with today
    superseded: TierModel | None  # a scheduled model this publication would send back to draft
    problems: list[Problem]
    simulation: SimulationResult | None  # None when a blocking problem stops the publication
    protected_until: date  # with "protect current tiers", the last day partners placed lower keep their tier

    @property
    def blocking(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.blocking]

    @property
    def warnings(self) -> list[Problem]:
        return [problem for problem in self.problems if not problem.blocking]


def publication_plan(*, model: TierModel) -> PublicationPlan:
    today = timezone.localdate()
    problems = model_problems(model=model)
    blocked = any(problem.blocking for problem in problems)
    return PublicationPlan(
        model=model,
        scheduled=model.effective_from > today,
        in_force=tier_model_for(evaluated_on=today),
        superseded=TierModel.objects.filter(status=TierModel.Status.SCHEDULED).exclude(pk=model.pk).first(),
        problems=problems,
        simulation=None if blocked else simulate(model=model, evaluated_on=today),
        protected_until=protection_end(model=model),
    )


def publication_sentence(*, model: TierModel) -> str:
    """What a published model's status means, in a sentence: for the message after publishing and the lists."""
    date = formats.date_format(model.effective_from, "DATE_FORMAT")
    if model.status == TierModel.Status.SCHEDULED:
        return _(
            "%(model)s is scheduled: it becomes the active model on %(date)s, at that night's evaluation; "
            "the model in force stays active until then."
        ) % {"model": f"{model.name} v{model.version}", "date": date}
    return _("%(model)s is now the active model; partners move at the next nightly evaluation.") % {
        "model": f"{model.name} v{model.version}"
    }
