"""Celery plumbing for tenant work: a task base that activates the tenant, and on-commit enqueueing.

Tenant tasks take `tenant_id` as a keyword argument; the base class loads that tenant and runs the body
inside its scope, so scoped managers work in workers exactly as in requests.
"""

import logging
import reprlib
from typing import Any

from celery import Task, current_app, shared_task
from django.core import mail
from django.db import transaction
from django.template.loader import render_to_string
from kombu.exceptions import OperationalError

from loyalty.outages import Outage
from loyalty.tenancy.context import current_tenant, tenant_context
from loyalty.tenancy.models import Tenant


class TenantTask(Task):
    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tenant_id = kwargs.get("tenant_id")
        if tenant_id is None:
            raise TypeError(f"{self.name} is a tenant task: pass tenant_id=… as a keyword argument.")
        tenant = Tenant.objects.get(pk=tenant_id, is_active=True)
        with tenant_context(tenant):
            return super().__call__(*args, **kwargs)


def tenant_task(**options: Any) -> Any:
    """`shared_task` whose body runs inside the scope of its `tenant_id` keyword argument."""
    return shared_task(base=TenantTask, **options)


logger = logging.getLogger(__name__)
broker_outage = Outage(
    service="Broker",
    while_down="tasks queued from requests run in-process until it is back",
    when_back="tasks are queued again",
    logger=logger,
)


def task_named(name: str) -> Task:
    """A registered task by name: how a module enqueues a task whose module imports it (or sits in a layer above)."""
    if name not in current_app.tasks:
        current_app.loader.import_default_modules()  # the apps' tasks modules, as a worker loads them
    return current_app.tasks[name]


def enqueue_on_commit(task: Task | str, /, **kwargs: Any) -> None:
    """Queue a tenant task (or a task's name) for the current tenant once the surrounding transaction commits.

    When the broker is unreachable the task runs here, in-process, after the commit (every task is idempotent,
    so a message the broker kept after all costs nothing twice): the request still succeeds, only slower.
    """
    tenant_id = current_tenant().pk
    transaction.on_commit(
        lambda: task_publish(task_named(task) if isinstance(task, str) else task, tenant_id=tenant_id, **kwargs)
    )


def task_publish(task: Task, /, **kwargs: Any) -> None:
    """`task.delay(**kwargs)` (its arguments shown abridged), or, when the broker is unreachable, the task run in this
    process with a log line."""
    if not broker_outage.skip():
        try:
            # The shown arguments (workers' logs, monitoring) abridged by reprlib: Celery's own full repr walked every
            # id of a bulk ingest's re-score message, ~1.5 ms a message.
            task.apply_async(kwargs=kwargs, kwargsrepr=reprlib.repr(kwargs))
        except OperationalError as error:
            broker_outage.began(error)
        else:
            broker_outage.ended()
            return
    logger.warning("Running %s in-process, the broker being unreachable: %s.", task.name, kwargs)
    result = task.apply(kwargs=kwargs, throw=False)
    if result.failed():
        # The caller's transaction has committed: its work stands, and the log carries the task's failure.
        logger.error("%s failed in-process: %r", task.name, result.result, exc_info=result.result)


@tenant_task(name="tenancy.invitation_send")
def invitation_send(*, tenant_id: int, invitation_id: int) -> None:
    """Email an invitation link to the invitee."""
    from loyalty.tenancy.models import Invitation
    from loyalty.tenancy.selectors import invitation_token, tenant_base_url

    invitation = Invitation.objects.select_related("partner", "invited_by").get(pk=invitation_id)
    if not invitation.is_pending:
        return
    tenant = current_tenant()
    context = {
        "invitation": invitation,
        "tenant": tenant,
        "accept_url": f"{tenant_base_url(tenant=tenant)}/invitations/{invitation_token(invitation=invitation)}/",
    }
    subject = render_to_string("tenancy/email/invitation_subject.txt", context).strip()
    body = render_to_string("tenancy/email/invitation_message.txt", context)
    mail.send_mail(subject, body, None, [invitation.email])
