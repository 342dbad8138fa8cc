"""The Celery tenant helper: tasks take tenant_id and run inside that tenant's scope, in a real worker."""

import pytest
from django.core import mail

from loyalty.tenancy.context import current_tenant, current_tenant_or_none, tenant_context
from loyalty.tenancy.models import Role
from loyalty.tenancy.services import invitation_create
from loyalty.tenancy.tasks import tenant_task
from partners.models import Partner
from tests.conftest import World
from tests.support import wait_for

observed: list[tuple[str, int]] = []


@tenant_task(name="tests.observe_tenant")
def observe_tenant(*, tenant_id: int) -> None:
    """Records which tenant is active and what a scoped query sees from inside the task."""
    observed.append((current_tenant().slug, Partner.objects.count()))


@pytest.fixture(autouse=True)
def _clear_observed() -> None:
    observed.clear()


def test_eager_task_runs_inside_its_tenant(acme: World, globex: World) -> None:
    observed.clear()
    observe_tenant.delay(tenant_id=globex.tenant.pk)
    assert observed == [("globex", 2)]
    assert current_tenant_or_none() is None


def test_task_without_tenant_id_is_refused(acme: World) -> None:
    observed.clear()
    with pytest.raises(TypeError, match="tenant_id"):
        observe_tenant.delay()
    assert observed == []


def test_task_for_an_inactive_tenant_does_not_run(acme: World) -> None:
    observed.clear()
    type(acme.tenant).objects.filter(pk=acme.tenant.pk).update(is_active=False)
    with pytest.raises(type(acme.tenant).DoesNotExist):
        observe_tenant.delay(tenant_id=acme.tenant.pk)
    assert observed == []


def test_worker_runs_each_task_in_its_own_tenant(worker: None, acme: World, globex: World) -> None:
    with tenant_context(acme.tenant):  # a third acme partner, so the two tenants' counts differ
        Partner.objects.create(external_id="X-9", name="Third", partner_type=acme.partner_type)
    observe_tenant.delay(tenant_id=acme.tenant.pk)
    observe_tenant.delay(tenant_id=globex.tenant.pk)
    assert wait_for(lambda: len(observed) == 2), observed
    assert sorted(observed) == [("acme", 3), ("globex", 2)]


def test_worker_sends_the_invitation_after_commit(worker: None, acme: World) -> None:
    with tenant_context(acme.tenant):
        invitation_create(email="later@example.com", role=Role.OWNER, invited_by=acme.owner)
    assert wait_for(lambda: len(mail.outbox) == 1)
    assert mail.outbox[0].to == ["later@example.com"]
    assert "http://acme.localhost/invitations/" in mail.outbox[0].body
