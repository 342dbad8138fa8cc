"""A program manager who chose Spanish reads the tenant admin's own words (actions, messages, names) in Spanish."""

from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import models
from django.utils import translation

from loyalty.tenancy.context import tenant_context
from tests.conftest import World
from tests.i18n.test_spanish_pages import speaks
from tests.partners.test_review_admin import pending_activity
from tests.rewards.factories import RewardFactory


def test_review_actions_speak_the_managers_language(acme: World, client_for) -> None:
    speaks(acme.manager, "es")
    pending_activity(acme)

    page = client_for(acme, acme.manager).get("/admin/partners/activity/").content.decode()

    assert '<option value="approve">Aprobar las filas seleccionadas</option>' in page
    assert '<option value="reject">Rechazar las filas seleccionadas, con un motivo</option>' in page
    assert "Approve the selected rows" not in page
    assert "Reject the selected rows" not in page
    assert "Seleccione actividad a modificar" in page


def test_review_decision_is_reported_in_the_managers_language(acme: World, client_for) -> None:
    speaks(acme.manager, "es")
    activity = pending_activity(acme)

    response = client_for(acme, acme.manager).post(
        "/admin/partners/activity/", {"action": "approve", ACTION_CHECKBOX_NAME: [activity.pk]}, follow=True
    )

    page = response.content.decode()
    assert "Aprobadas: 1." in page
    assert "1 approved." not in page


def _project_models() -> list[type[models.Model]]:
    """Every model of the project's own apps (not Django's, nor a dependency's in the virtualenv)."""
    root = Path(settings.BASE_DIR).resolve()
    return [
        model
        for model in apps.get_models()
        if Path(model._meta.app_config.path).resolve().is_relative_to(root)
        and "site-packages" not in Path(model._meta.app_config.path).parts
    ]


def test_every_project_model_has_a_spanish_name_and_plural() -> None:
    """Named in its Meta, not derived from the class name (which no catalogue can translate), and translated."""
    project_models = _project_models()
    untranslated = []
    for model in project_models:
        options = model._meta
        for attribute in ("verbose_name", "verbose_name_plural"):
            with translation.override("en"):
                english = str(getattr(options, attribute))
            with translation.override("es"):
                spanish = str(getattr(options, attribute))
            if attribute not in options.original_attrs or spanish == english:
                untranslated.append(f"{options.label}.{attribute}: {english!r} -> {spanish!r}")

    assert len(project_models) > 70
    assert untranslated == []


def test_changelist_and_add_form_name_the_reward_in_spanish(acme: World, client_for) -> None:
    speaks(acme.manager, "es")
    client = client_for(acme, acme.manager)

    changelist = client.get("/admin/rewards/reward/").content.decode()
    add_form = client.get("/admin/rewards/reward/add/").content.decode()

    assert "Seleccione recompensa a modificar" in changelist
    assert "Añadir recompensa" in changelist
    assert "<h1>Añadir recompensa</h1>" in add_form
    assert "Seleccione reward a modificar" not in changelist
    assert "Añadir reward" not in add_form


def test_index_names_the_apps_in_spanish(acme: World, client_for) -> None:
    speaks(acme.manager, "es")

    index = client_for(acme, acme.manager).get("/admin/").content.decode()

    assert "Formación y recursos" in index
    assert "Libro de puntos" in index
    assert "Enablement" not in index
    assert "Points ledger" not in index


# Words Spanish writes as English does; every other field name must read differently in Spanish.
SAME_IN_SPANISH = {"SKU", "URL", "error", "marketing", "nonce", "total"}


def test_every_project_model_field_has_a_spanish_name() -> None:
    """Each field names itself (`verbose_name`), or the admin's columns, filters and labels show the attribute name."""
    untranslated = []
    fields = 0
    for model in _project_models():
        for field in model._meta.get_fields():
            if field.auto_created or not (field.concrete or field.many_to_many):
                continue
            fields += 1
            with translation.override("en"):
                english = str(field.verbose_name)
            with translation.override("es"):
                spanish = str(field.verbose_name)
            if "verbose_name" not in field.deconstruct()[3] or (spanish == english and english not in SAME_IN_SPANISH):
                untranslated.append(f"{model._meta.label}.{field.name}: {english!r} -> {spanish!r}")

    assert fields > 700
    assert untranslated == []


def test_changelist_columns_filters_and_form_labels_speak_spanish(acme: World, client_for) -> None:
    speaks(acme.manager, "es")
    with tenant_context(acme.tenant):
        RewardFactory(name="Taza", points_cost=150)
    client = client_for(acme, acme.manager)

    changelist = client.get("/admin/rewards/reward/").content.decode()
    add_form = client.get("/admin/rewards/reward/add/").content.decode()

    assert ">Coste en puntos</a>" in changelist
    assert "Por estado" in changelist
    assert "Por tipo" in changelist
    assert ">Points cost</a>" not in changelist
    assert "Por status" not in changelist
    assert "Por kind" not in changelist
    assert '<label class="required" for="id_name">Nombre:</label>' in add_form
    assert '<label class="required" for="id_sku">SKU:</label>' in add_form
    assert "Points cost:" not in add_form
