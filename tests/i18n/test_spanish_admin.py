"""A program manager who chose Spanish reads the tenant admin's own words (actions, messages, names) in Spanish."""

import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path

from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import label_for_field
from django.db import models
from django.utils import translation

from loyalty.tenancy.admin_sites import tenant_admin_site
from loyalty.tenancy.context import tenant_context
from tests.api.conftest import make_key
from tests.conftest import World
from tests.deals.factories import register
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


def test_spanish_model_names_are_lower_case_as_the_admin_puts_them_mid_sentence() -> None:
    """The admin writes them mid-sentence ("Seleccione clave de API para ver"): only an acronym keeps its capitals."""
    capitalised = []
    for model in _project_models():
        for attribute in ("verbose_name", "verbose_name_plural"):
            with translation.override("es"):
                first_word = str(getattr(model._meta, attribute)).split()[0]
            if first_word[0].isupper() and not first_word.isupper():
                capitalised.append(f"{model._meta.label}.{attribute}: {first_word!r}")

    assert capitalised == []


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


def _project_forms() -> list[type[forms.BaseForm]]:
    """Every form class of the project's own apps (the admins' and the portal's), once each module is imported."""
    root = Path(settings.BASE_DIR).resolve()
    project_apps = [
        config
        for config in apps.get_app_configs()
        if Path(config.path).resolve().is_relative_to(root) and "site-packages" not in Path(config.path).parts
    ]
    for config in project_apps:
        for module in pkgutil.walk_packages([config.path], f"{config.name}."):
            if not {"migrations", "management"} & set(module.name.split(".")):
                importlib.import_module(module.name)
    packages = {config.name for config in project_apps}

    def subclasses(cls: type) -> Iterator[type]:
        for subclass in cls.__subclasses__():
            yield subclass
            yield from subclasses(subclass)

    return sorted(
        {form for form in subclasses(forms.BaseForm) if form.__module__.rsplit(".", 1)[0] in packages},
        key=lambda form: f"{form.__module__}.{form.__qualname__}",
    )


def _spanish_differs(text: object) -> tuple[str, str]:
    with translation.override("en"):
        english = str(text)
    with translation.override("es"):
        spanish = str(text)
    return english, spanish


def test_every_help_text_has_its_own_spanish() -> None:
    """The hint under a field in the admin and the portal's forms: a model field's, or a form field's of its own."""
    untranslated = []
    help_texts = 0
    for model in _project_models():
        for field in model._meta.get_fields():
            if getattr(field, "help_text", ""):
                help_texts += 1
                english, spanish = _spanish_differs(field.help_text)
                if spanish == english:
                    untranslated.append(f"{model._meta.label}.{field.name}: {english!r}")
    for form in _project_forms():
        for name, field in form.base_fields.items():
            if field.help_text:
                help_texts += 1
                english, spanish = _spanish_differs(field.help_text)
                if spanish == english:
                    untranslated.append(f"{form.__module__}.{form.__qualname__}.{name}: {english!r}")

    assert help_texts > 170
    assert untranslated == []


# Column headers Spanish writes as English does; an empty header is a column of buttons (it names nothing).
SAME_HEADER_IN_SPANISH = {"", "ID", *SAME_IN_SPANISH}


def test_every_admin_column_and_read_only_field_is_headed_in_spanish() -> None:
    """A property or method shown in the admin (`list_display`, `readonly_fields`, an inline's fields) says its own
    name (`@admin.display(description=…)`); without one the admin derives "Reference" from the attribute name."""
    project = set(_project_models())
    untranslated = []
    headers = 0
    for site in (admin.site, tenant_admin_site):
        for model, model_admin in site._registry.items():
            if model not in project:
                continue
            shown = [(model, model_admin, name) for name in (*model_admin.list_display, *model_admin.readonly_fields)]
            for inline_class in model_admin.inlines:
                inline = inline_class(model, site)
                names = [*(inline.fields or ()), *inline.readonly_fields]
                shown += [(inline.model, inline, name) for name in names if isinstance(name, str)]
            for owner, owner_admin, name in shown:
                if name in ("__str__", "action_checkbox"):
                    continue
                headers += 1
                english, spanish = _spanish_differs(label_for_field(name, owner, owner_admin))
                if spanish == english and english not in SAME_HEADER_IN_SPANISH:
                    untranslated.append(f"{type(owner_admin).__qualname__}.{name}: {english!r}")

    assert headers > 400
    assert untranslated == []


def test_deal_reference_column_and_api_key_state_read_spanish(acme: World, client_for) -> None:
    speaks(acme.manager, "es")
    make_key(acme)
    with tenant_context(acme.tenant):
        register(acme.partner, customer_name="ACME Corp.")
    client = client_for(acme, acme.manager)

    deals = client.get("/admin/deals/dealregistration/").content.decode()
    keys = client.get("/admin/api/apikey/").content.decode()

    assert '<a href="?o=1">Referencia</a>' in deals
    assert ">Reference<" not in deals
    assert '<td class="field-state">activa</td>' in keys
    assert "Seleccione clave de API para ver" in keys
    assert '<td class="field-state">active</td>' not in keys
