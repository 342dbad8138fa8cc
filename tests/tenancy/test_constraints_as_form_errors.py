"""Every unique and check constraint a tenant admin form can reach is a form error, never an IntegrityError.

Generated from the models' constraints (issue 17, item 1): for each model of the tenant admin, each constraint
whose fields (besides `tenant`) the form edits is violated on purpose, from a row of the demo seed, and the form
must refuse it on that field (or as a whole when it spans several).
"""

from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.management import call_command
from django.db import models
from django.db.models import F, Q
from django.test import RequestFactory

from funds.models import FundPeriod
from loyalty.tenancy.admin_sites import tenant_admin_site
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Membership, Role, Tenant, TenantOwnedModel
from tests.funds.helpers import quarter

pytestmark = pytest.mark.django_db


def _admin_request(tenant: Tenant):  # noqa: ANN202 - a request
    request = RequestFactory().get("/admin/", HTTP_HOST=f"{tenant.slug}.localhost")
    request.tenant = tenant
    request.user = Membership.all_tenants.filter(tenant=tenant, role=Role.OWNER).first().user
    request.membership = Membership.all_tenants.filter(tenant=tenant, user=request.user).first()
    request.session = {}
    return request


def _data(form: forms.BaseForm) -> dict:
    """What a browser would post back from `form` as it stands (tests/admin_forms.py's rules)."""
    data = {}
    for name, field in form.fields.items():
        value = field.prepare_value(form[name].value())
        if isinstance(field, forms.BooleanField):
            value = "on" if value else None
        elif isinstance(field, forms.JSONField):
            value = value if isinstance(value, str) else field.prepare_value(value)
        elif isinstance(value, list | tuple):
            value = [str(item) for item in value]
        elif value is not None:
            value = value.isoformat() if hasattr(value, "isoformat") else str(value)
        if value is not None:
            data[name] = value
    return data


def _editable_fields(model_admin, request, obj) -> set[str]:  # noqa: ANN001
    form_class = model_admin.get_form(request, obj)
    return set(form_class.base_fields) - set(model_admin.get_readonly_fields(request, obj))


def _violating(lookup: str, value: object) -> object | None:
    """A value that breaks `field__lookup=value`, or None when this generator cannot make one."""
    if isinstance(value, F | bool):
        return None
    step = {int: 1, Decimal: Decimal("0.01"), float: 0.01, date: timedelta(days=1)}.get(type(value))
    if step is None:
        return None
    return {"gt": value, "gte": value - step, "lt": value, "lte": value + step}.get(lookup)


def _check_violations(constraint: models.CheckConstraint) -> list[tuple[str, object]]:
    """(field, value) pairs each of which alone violates a simple check: `x > 0`, `x IS NULL OR x >= 0`, …"""
    condition = constraint.condition
    leaves = [child for child in condition.children if isinstance(child, tuple)]
    if condition.connector == Q.OR:
        # `a IS NULL OR a >= 0`: a non-null value breaking the other leaf breaks the whole.
        leaves = [leaf for leaf in leaves if not leaf[0].endswith("__isnull")]
        if len(leaves) != 1 or len(condition.children) != 2:
            return []
    elif condition.negated:
        return []
    found = []
    for name, value in leaves:
        field, _, lookup = name.partition("__")
        violating = _violating(lookup or "exact", value)
        if violating is not None and "__" not in lookup:
            found.append((field, violating))
    return found


def _unique_sets(model: type[models.Model]) -> list[tuple[str, ...]]:
    sets = [tuple(c.fields) for c in model._meta.constraints if isinstance(c, models.UniqueConstraint) and c.fields]
    return sets + [tuple(fields) for fields in model._meta.unique_together]


def _refused_on(form: forms.BaseForm, fields: set[str]) -> bool:
    errors = form.errors
    return bool(set(errors) & fields) or NON_FIELD_ERRORS in errors


@pytest.fixture
def seeded() -> Tenant:
    """The demo's data, plus a row of each edited model the demo does not make."""
    call_command("seed_demo", "--no-banner", stdout=StringIO())
    tenant = Tenant.objects.get(slug="acme")
    with tenant_context(tenant):
        if not FundPeriod.objects.exists():
            quarter()
    return tenant


def test_every_constraint_a_tenant_admin_form_reaches_is_a_form_error(seeded: Tenant) -> None:
    """Issue 17, item 1: two tiers with the same rank were a 500 IntegrityError; so was any duplicate code, SKU or
    external id typed in the tenant admin. Generated over every constraint of every model the admin edits."""
    request = _admin_request(seeded)
    checked, not_refused, no_rows = [], [], []
    with tenant_context(seeded):
        for model, model_admin in tenant_admin_site._registry.items():
            if not issubclass(model, TenantOwnedModel):
                continue
            rows = list(model_admin.get_queryset(request).order_by("pk")[:2])
            constraints = [("unique", fields) for fields in _unique_sets(model)]
            constraints += [("check", c) for c in model._meta.constraints if isinstance(c, models.CheckConstraint)]
            for kind, constraint in constraints:
                names = set(constraint) - {"tenant"} if kind == "unique" else None
                cases = []
                if kind == "unique" and names:  # a partial constraint on `tenant` alone is about status, not input
                    if model_admin.has_add_permission(request):
                        if names <= _editable_fields(model_admin, request, None):
                            cases.append(("add", names, None))
                    elif (
                        len(rows) == 2
                        and model_admin.has_change_permission(request, rows[1])
                        and names <= _editable_fields(model_admin, request, rows[1])
                    ):
                        cases.append(("change", names, None))
                elif kind == "check":
                    obj = rows[0] if rows else None
                    if obj is not None and model_admin.has_change_permission(request, obj):
                        editable = _editable_fields(model_admin, request, obj)
                        cases += [("check", {f}, v) for f, v in _check_violations(constraint) if f in editable]
                for case, fields, value in cases:
                    label = f"{model.__name__}: {case} {sorted(fields)}"
                    if not rows:
                        no_rows.append(label)
                        continue
                    source = model_admin.get_form(request, rows[0])(instance=rows[0])
                    data = _data(source)
                    if case == "add":
                        form = model_admin.get_form(request, None)(data=data, files={}, instance=model())
                    elif case == "change":
                        target = rows[1]
                        form = model_admin.get_form(request, target)(data=data, files={}, instance=target)
                    else:
                        field_name = next(iter(fields))
                        data[field_name] = str(value)
                        form = model_admin.get_form(request, rows[0])(data=data, files={}, instance=rows[0])
                    checked.append(label)
                    if form.is_valid() or not _refused_on(form, fields):
                        not_refused.append(f"{label}: {dict(form.errors)}")
    assert not_refused == []
    assert no_rows == [], "the demo seed has no row of these models to collide with"
    print("\n".join(checked))  # noqa: T201 - what was generated, in the test's output
    assert len(checked) >= 5, checked
