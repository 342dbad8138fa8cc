"""Every registered task ends (by its hard time limit) before Redis would hand its message to a second worker, and
is acknowledged late, so a worker killed mid-task leaves the message to be delivered again."""

import pytest

from loyalty.celery import app as celery_app

EXPECTED = {  # a few by name, so an empty registry cannot pass
    "tiers.evaluate_all_tenants",
    "tiers.evaluate_chunk",
    "webhooks.deliver",
    "notifications.email_send",
    "imports.import_job_process",
    "ledger.expire_points",
}


def project_tasks() -> dict:
    celery_app.loader.import_default_modules()
    return {name: task for name, task in celery_app.tasks.items() if not name.startswith("celery.")}


def test_the_registry_holds_the_projects_tasks() -> None:
    assert set(project_tasks()) >= EXPECTED


@pytest.mark.parametrize("name", sorted(project_tasks()))
def test_a_task_is_stopped_before_its_message_could_be_delivered_twice(name: str) -> None:
    task = celery_app.tasks[name]
    visibility_timeout = celery_app.conf.broker_transport_options["visibility_timeout"]
    hard = task.time_limit or celery_app.conf.task_time_limit
    soft = task.soft_time_limit or celery_app.conf.task_soft_time_limit
    assert hard is not None, f"{name} has no hard time limit"
    assert soft is not None, f"{name} has no soft time limit"
    assert soft < hard < visibility_timeout, (name, soft, hard, visibility_timeout)


@pytest.mark.parametrize("name", sorted(project_tasks()))
def test_a_task_is_acknowledged_after_it_ran_and_redelivered_when_its_worker_dies(name: str) -> None:
    task = celery_app.tasks[name]
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True


def test_a_worker_reserves_one_message_at_a_time() -> None:
    assert celery_app.conf.worker_prefetch_multiplier == 1
