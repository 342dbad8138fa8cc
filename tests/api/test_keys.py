"""API keys: how they authenticate, what refuses them (always 401 without saying why it is unknown), their admin
and their command."""

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api.models import ApiKey
from api.services import api_key_revoke
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from tests.api.conftest import api_client, make_key
from tests.conftest import World

INVALID = {"error": {"type": "authentication_error", "code": "authentication_failed", "message": "Invalid API key."}}


def test_a_bearer_key_of_the_hosts_tenant_reads_its_partners(acme: World, acme_key: str) -> None:
    response = api_client(acme, acme_key).get("/api/v1/partners/")
    assert response.status_code == 200
    assert sorted(row["external_id"] for row in response.json()["results"]) == sorted(
        [acme.partner.external_id, acme.unmanaged_partner.external_id]
    )


def test_the_api_key_scheme_works_too(acme: World, acme_key: str) -> None:
    client = api_client(acme)
    response = client.get("/api/v1/partners/", HTTP_AUTHORIZATION=f"Api-Key {acme_key}")
    assert response.status_code == 200


def test_another_tenants_key_is_invalid_exactly_like_an_unknown_one(acme: World, globex: World) -> None:
    _key, globex_token = make_key(globex)
    on_acme = api_client(acme, globex_token).get("/api/v1/partners/")
    prefix = globex_token.split("_")[1]
    unknown = api_client(acme, f"tl_{prefix}x_{'a' * 43}").get("/api/v1/partners/")
    wrong_secret = api_client(acme, f"tl_{prefix}_{'a' * 43}").get("/api/v1/partners/")
    for response in (on_acme, unknown, wrong_secret):
        assert response.status_code == 401
        assert response.json() == INVALID
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize("header", ["Bearer", "Bearer tl_", "Bearer tl_abc", "Bearer xx_abc_def", "Api-Key  "])
def test_malformed_keys_are_invalid(acme: World, header: str) -> None:
    response = api_client(acme).get("/api/v1/partners/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json() == INVALID


def test_no_credentials_is_401_with_the_scheme_to_use(acme: World) -> None:
    response = api_client(acme).get("/api/v1/partners/")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_revoked_key_is_refused(acme: World) -> None:
    api_key, token = make_key(acme)
    with tenant_context(acme.tenant):
        api_key_revoke(api_key=api_key)
    response = api_client(acme, token).get("/api/v1/partners/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "This API key was revoked."


def test_an_expired_key_is_refused(acme: World) -> None:
    api_key, token = make_key(acme, expires_at=timezone.now() + timedelta(minutes=5))
    ApiKey.all_tenants.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api_client(acme, token).get("/api/v1/partners/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "This API key has expired."


def test_a_key_is_stored_as_the_sha256_of_its_secret_only(acme: World) -> None:
    api_key, token = make_key(acme)
    _kind, prefix, secret = token.split("_", 2)
    assert api_key.prefix == prefix
    assert api_key.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiKey.all_tenants.filter(pk=api_key.pk).values().get())


def test_last_used_is_written_at_most_once_a_minute(acme: World) -> None:
    api_key, token = make_key(acme)
    client = api_client(acme, token)
    assert api_key.last_used_at is None
    client.get("/api/v1/rewards/")
    first = ApiKey.all_tenants.get(pk=api_key.pk).last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as captured:
        client.get("/api/v1/rewards/")
    assert not [query for query in captured.captured_queries if query["sql"].startswith("UPDATE")]
    assert ApiKey.all_tenants.get(pk=api_key.pk).last_used_at == first
    ApiKey.all_tenants.filter(pk=api_key.pk).update(last_used_at=first - timedelta(minutes=2))
    client.get("/api/v1/rewards/")
    assert ApiKey.all_tenants.get(pk=api_key.pk).last_used_at > first


# --- The command -------------------------------------------------------------------------------------------------


def test_create_api_key_prints_the_key_once_and_it_works(acme: World) -> None:
    out = StringIO()
    call_command(
        "create_api_key",
        "--tenant=acme",
        "--name=CRM sync",
        "--scopes=partners:read,activities:write",
        f"--created-by={acme.manager.email}",
        "--expires-in-days=30",
        stdout=out,
    )
    lines = out.getvalue().splitlines()
    token = lines[-1]
    api_key = ApiKey.all_tenants.get(tenant=acme.tenant)
    assert lines[0] == f"Created API key {api_key.prefix} (CRM sync) in acme; it is shown only this once:"
    assert token.startswith(f"tl_{api_key.prefix}_")
    assert api_key.scopes == ["activities:write", "partners:read"]
    assert api_key.created_by == acme.manager
    assert timedelta(days=29) < api_key.expires_at - timezone.now() <= timedelta(days=30)
    assert api_client(acme, token).get("/api/v1/partners/").status_code == 200


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--scopes=partners:read,everything"], "Unknown scopes: everything."),
        (["--scopes=partners:read", "--created-by=am@acme.test"], "am@acme.test is not a program manager or owner"),
        (["--scopes=partners:read", "--expires-in-days=0"], "--expires-in-days must be at least 1."),
    ],
)
def test_create_api_key_refuses_bad_arguments_and_creates_nothing(
    acme: World, arguments: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("create_api_key", "--tenant=acme", "--name=CRM", *arguments, stdout=StringIO())
    assert not ApiKey.all_tenants.exists()


# --- The tenant admin --------------------------------------------------------------------------------------------


def test_the_admin_shows_a_new_key_once_and_never_its_hash(acme: World, client_for) -> None:
    client = client_for(acme, acme.manager)
    response = client.post(
        "/admin/api/apikey/add/", {"name": "ERP", "scopes": ["ledger:read", "rewards:read"], "expires_at": ""}
    )
    assert response.status_code == 200
    api_key = ApiKey.all_tenants.get(tenant=acme.tenant)
    token = response.context["token"]
    assert token.startswith(f"tl_{api_key.prefix}_")
    assert token in response.content.decode()
    # The page holds a secret: no browser or proxy keeps a copy (the admin's never_cache).
    assert "no-store" in response["Cache-Control"].split(", ")
    assert api_key.created_by == acme.manager
    assert api_key.scopes == ["ledger:read", "rewards:read"]
    for page in ("/admin/api/apikey/", f"/admin/api/apikey/{api_key.pk}/change/"):
        content = client.get(page).content.decode()
        assert api_key.prefix in content
        assert api_key.secret_hash not in content
        assert token not in content
    assert api_client(acme, token).get("/api/v1/rewards/").status_code == 200


def test_the_admin_revokes_keys(acme: World, client_for) -> None:
    api_key, token = make_key(acme)
    client = client_for(acme, acme.manager)
    asked = client.post("/admin/api/apikey/", {"action": "revoke", "_selected_action": [api_key.pk]})
    # Issue 17, item 19: revoking asks first (what stops working); nothing is revoked until confirmed.
    assert asked.status_code == 200
    assert "Every request signed with these keys is refused from now on" in asked.content.decode()
    assert ApiKey.all_tenants.get(pk=api_key.pk).revoked_at is None
    response = client.post(
        "/admin/api/apikey/", {"action": "revoke", "_selected_action": [api_key.pk], "confirmed": "1"}
    )
    assert response.status_code == 302
    assert ApiKey.all_tenants.get(pk=api_key.pk).revoked_at is not None
    assert api_client(acme, token).get("/api/v1/rewards/").status_code == 401


def test_the_admin_refuses_a_past_expiry_and_creates_nothing(acme: World, client_for) -> None:
    client = client_for(acme, acme.owner)
    past = timezone.localtime() - timedelta(days=1)
    response = client.post(
        "/admin/api/apikey/add/",
        {
            "name": "ERP",
            "scopes": ["ledger:read"],
            "expires_at_0": past.strftime("%Y-%m-%d"),
            "expires_at_1": past.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 200
    assert "The expiry must be in the future." in response.content.decode()
    assert not ApiKey.all_tenants.exists()


@pytest.mark.parametrize("role", [Role.ACCOUNT_MANAGER, Role.PARTNER_ADMIN, Role.PARTNER_USER])
def test_only_program_staff_manage_keys(acme: World, client_for, role: Role) -> None:
    client = client_for(acme, acme.user_for(role))
    assert client.get("/admin/api/apikey/").status_code == 403
    assert client.post("/admin/api/apikey/add/", {"name": "X", "scopes": ["ledger:read"]}).status_code == 403
    assert not ApiKey.all_tenants.exists()


def test_the_admin_lists_only_this_tenants_keys(acme: World, globex: World, client_for) -> None:
    globex_key, _token = make_key(globex)
    content = client_for(acme, acme.manager).get("/admin/api/apikey/").content.decode()
    assert globex_key.prefix not in content
    assert client_for(acme, acme.manager).get(f"/admin/api/apikey/{globex_key.pk}/change/").status_code == 302
