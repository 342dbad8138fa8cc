"""Two tabs (or a double click) completing one course at the same instant on PostgreSQL: one training, once."""

from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection

from earning.models import EarningRule
from enablement.models import CourseCompletion
from enablement.services import CourseOutcome, course_complete
from loyalty.ledger.models import LedgerEntry
from loyalty.tenancy.context import tenant_context
from partners.models import Activity, ActivityKind
from tests.conftest import World
from tests.enablement.factories import course
from tests.support import outcomes, run_concurrently

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="Needs PostgreSQL: real concurrent transactions"),
    pytest.mark.django_db(transaction=True),
]


def test_many_submissions_of_one_completion_at_once_record_one_training_and_one_earning(acme: World) -> None:
    basics = course(acme, "Basics", code="basics-101")
    with tenant_context(acme.tenant):
        EarningRule.objects.create(
            name="Courses",
            activity_kind=ActivityKind.TRAINING,
            basis=EarningRule.Basis.PER_ACTIVITY,
            rate=Decimal(50),
            applies_tier_multiplier=False,
        )

    results = run_concurrently(
        acme.tenant,
        4,
        lambda _index: course_complete(course_id=basics.pk, partner=acme.partner, user=acme.partner_user),
    )

    assert outcomes(results) == Counter({"CourseOutcome": 4})
    assert Counter(result.created for result in results if isinstance(result, CourseOutcome)) == Counter(
        {True: 1, False: 3}
    )
    assert len({result.completion.pk for result in results}) == 1
    with tenant_context(acme.tenant):
        assert CourseCompletion.objects.count() == 1
        [activity] = Activity.objects.filter(kind=ActivityKind.TRAINING)
        assert CourseCompletion.objects.get().activity_id == activity.pk
        assert list(LedgerEntry.objects.values_list("points", flat=True)) == [50]


def test_two_members_completing_at_once_each_record_their_own_training(acme: World) -> None:
    basics = course(acme, "Basics")
    members = [acme.partner_user, acme.partner_admin]

    results = run_concurrently(
        acme.tenant, 2, lambda index: course_complete(course_id=basics.pk, partner=acme.partner, user=members[index])
    )

    assert [result.created for result in results] == [True, True]
    with tenant_context(acme.tenant):
        assert Activity.objects.filter(kind=ActivityKind.TRAINING).count() == 2
