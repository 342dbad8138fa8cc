"""Evaluation runs in the tenant admin: start today's run, follow its progress; the platform's schedules, read-only."""

from django_celery_beat.models import PeriodicTask

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import AuditEntry, Role
from tests.conftest import World
from tests.tiers.factories import revenue_program
from tiers.models import EvaluationRun, PartnerScore
from tiers.services import tier_model_publish


def test_start_runs_todays_evaluation_and_the_list_follows_it(
    acme: World, globex: World, client_for, django_capture_on_commit_callbacks
) -> None:
    with tenant_context(acme.tenant):
        tier_model_publish(model=revenue_program().model, actor=acme.manager)
    client = client_for(acme, acme.manager)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/tiers/evaluationrun/start/", follow=True)

    assert response.status_code == 200
    assert b"is queued" in response.content
    with tenant_context(acme.tenant):
        [run] = EvaluationRun.objects.all()
        # tasks run in-process in tests: both active partners are scored at once
        assert (run.status, run.done, run.total) == (EvaluationRun.Status.COMPLETED, 2, 2)
        assert PartnerScore.objects.count() == 2
        assert AuditEntry.objects.get().summary.startswith("Started the evaluation of")
    with tenant_context(globex.tenant):
        assert not EvaluationRun.objects.exists()
    assert b'http-equiv="refresh"' not in response.content  # nothing runs any more


def test_a_running_evaluation_refreshes_the_list(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        model = revenue_program().model
        EvaluationRun.objects.create(evaluated_on="2026-01-01", tier_model=model, total=10, done=4)

    page = client_for(acme, acme.manager).get("/admin/tiers/evaluationrun/")

    assert b'<meta http-equiv="refresh" content="5">' in page.content
    assert b'<progress value="4" max="10" aria-label="Partners evaluated">4 / 10</progress>' in page.content


def test_only_program_staff_start_an_evaluation(acme: World, client_for) -> None:
    for role in (Role.ACCOUNT_MANAGER, Role.PARTNER_ADMIN):
        assert client_for(acme, acme.user_for(role)).post("/admin/tiers/evaluationrun/start/").status_code == 403
    assert client_for(acme, acme.manager).get("/admin/tiers/evaluationrun/start/").status_code == 405
    with tenant_context(acme.tenant):
        assert not EvaluationRun.objects.exists()


def test_schedules_are_listed_read_only(acme: World, client_for) -> None:
    client = client_for(acme, acme.manager)
    nightly = PeriodicTask.objects.get(task="tiers.evaluate_all_tenants")

    listing = client.get("/admin/django_celery_beat/periodictask/")
    change = client.post(f"/admin/django_celery_beat/periodictask/{nightly.pk}/change/", {"enabled": ""})

    assert listing.status_code == 200
    assert nightly.name.encode() in listing.content
    assert change.status_code == 403
    nightly.refresh_from_db()
    assert nightly.enabled
