"""Who signed in how (issue 23, item 4): the security log names the method — password, single sign-on (which
provider), hand-off from My programs — and the second factor; staff filter by it; each program sees its own."""

import pytest
from django.test import Client

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import AuditEntry
from loyalty.tenancy.services import handoff_issue
from tests.conftest import World
from tests.factories import PASSWORD, totp_now, totp_secret
from tests.sso.support import oidc_provider_for, oidc_sign_in

pytestmark = pytest.mark.django_db

LOG = "/admin/tenancy/securityevent/"


def sign_ins(world: World) -> list[tuple[str, dict, str]]:
    with tenant_context(world.tenant):
        entries = AuditEntry.objects.filter(category=AuditEntry.Category.SIGN_IN).order_by("pk")
        return [(entry.summary, entry.changes.get("sign_in"), getattr(entry.actor, "email", "")) for entry in entries]


def test_each_way_in_is_named(acme: World, oidc_idp) -> None:
    Client(HTTP_HOST=acme.host).post("/accounts/login/", {"login": acme.partner_user.email, "password": PASSWORD})
    staff = Client(HTTP_HOST=acme.host)
    staff.post("/accounts/login/", {"login": acme.manager.email, "password": PASSWORD})
    staff.post("/accounts/2fa/authenticate/", {"code": totp_now(totp_secret(acme.manager))})
    token = handoff_issue(user=acme.partner_admin, tenant=acme.tenant)
    Client(HTTP_HOST=acme.host).get(f"/accounts/handoff/?token={token}")
    provider = oidc_provider_for(acme, oidc_idp)
    oidc_sign_in(acme, provider, oidc_idp, "ana@partner.acme.test")
    oidc_sign_in(acme, provider, oidc_idp, "eve@elsewhere.test")

    assert sign_ins(acme) == [
        ("Signed in with a password", {"method": "password", "mfa": False}, acme.partner_user.email),
        ("Signed in with a password and a second factor", {"method": "password", "mfa": True}, acme.manager.email),
        ("Signed in from My programs (hand-off)", {"method": "handoff", "mfa": False}, acme.partner_admin.email),
        (
            "Signed in with single sign-on (Acme Okta)",
            {"method": "sso", "provider": "Acme Okta", "mfa": False},
            "ana@partner.acme.test",
        ),
        (
            "Refused single sign-on (Acme Okta): eve@elsewhere.test is outside the allowed domains",
            {"method": "sso", "provider": "Acme Okta", "refused": True},
            "",
        ),
    ]


def test_staff_filter_the_log_by_method_and_see_only_their_program(acme, globex, client_for, oidc_idp) -> None:
    Client(HTTP_HOST=acme.host).post("/accounts/login/", {"login": acme.partner_user.email, "password": PASSWORD})
    oidc_sign_in(acme, oidc_provider_for(acme, oidc_idp), oidc_idp, "ana@partner.acme.test")
    Client(HTTP_HOST=globex.host).post("/accounts/login/", {"login": globex.partner_user.email, "password": PASSWORD})

    client = client_for(acme, acme.manager)
    listed = client.get(LOG, {"sign_in": "sso"}).context["cl"].result_list
    assert [entry.summary for entry in listed] == ["Signed in with single sign-on (Acme Okta)"]
    listed = client.get(LOG, {"sign_in": "password"}).context["cl"].result_list
    assert [entry.actor for entry in listed] == [acme.partner_user]
    everything = client.get(LOG).content.decode()
    assert globex.partner_user.email not in everything
    globex_log = client_for(globex, globex.manager).get(LOG, {"sign_in": "sso"}).context["cl"].result_list
    assert list(globex_log) == []
