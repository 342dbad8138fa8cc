"""Host resolution: a known host serves its tenant, anything else is a 404, never another tenant's page."""

import pytest
from django.template.loader import render_to_string
from django.test import Client

from loyalty.tenancy.models import Tenant
from tests.conftest import World
from tests.factories import DomainFactory


def test_known_slug_serves_its_tenant(acme: World, globex: World, client_for) -> None:
    response = client_for(acme, acme.manager).get("/portfolio/")
    assert response.status_code == 200
    assert response.wsgi_request.tenant == acme.tenant
    assert b"Acme Partner One" in response.content
    assert b"Globex" not in response.content


@pytest.mark.parametrize("host", ["nobody.localhost", "acme.globex.localhost", "acme.localhost.evil.test"])
def test_unknown_host_is_404(acme: World, host: str, settings) -> None:
    settings.ALLOWED_HOSTS = ["*"]
    response = Client(HTTP_HOST=host).get("/accounts/login/")
    assert response.status_code == 404
    assert b"Acme" not in response.content


def test_host_outside_allowed_hosts_is_refused(acme: World) -> None:
    response = Client(HTTP_HOST="attacker.test").get("/")
    assert response.status_code == 400


def test_inactive_tenant_is_404(acme: World) -> None:
    Tenant.objects.filter(pk=acme.tenant.pk).update(is_active=False)
    assert Client(HTTP_HOST="acme.localhost").get("/accounts/login/").status_code == 404


def test_custom_domain_serves_its_tenant(acme: World, settings) -> None:
    DomainFactory(tenant=acme.tenant, domain="Loyalty.Acme-Networks.test")
    settings.ALLOWED_HOSTS = [".localhost", "loyalty.acme-networks.test"]
    client = Client(HTTP_HOST="loyalty.acme-networks.test")
    client.force_login(acme.manager)
    response = client.get("/program/")
    assert response.status_code == 200
    assert response.wsgi_request.tenant == acme.tenant


def test_host_port_and_case_are_ignored(acme: World) -> None:
    response = Client(HTTP_HOST="ACME.localhost:8000").get("/accounts/login/")
    assert response.status_code == 200
    assert response.wsgi_request.tenant == acme.tenant


def test_bare_domain_is_the_platform(acme: World) -> None:
    response = Client(HTTP_HOST="localhost").get("/")
    assert response.status_code == 200
    assert response.wsgi_request.tenant is None
    assert b"Acme" not in response.content


def test_server_error_page_renders_without_a_request_in_the_portal_look() -> None:
    page = render_to_string("500.html")  # as Django's server_error handler does: no request, no context
    assert "Something went wrong" in page
    assert "/static/css/app.css" in page


def test_tenant_logo_brands_its_own_host_only(acme: World, globex: World, client_for) -> None:
    from io import BytesIO

    from django.core.files.base import ContentFile
    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (4, 4), "#b4451f").save(buffer, format="PNG")
    acme.tenant.logo.save("acme.png", ContentFile(buffer.getvalue()))
    response = Client(HTTP_HOST=acme.host).get("/branding/logo/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == buffer.getvalue()
    assert 'src="/branding/logo/"' in client_for(acme, acme.partner_user).get("/").content.decode()
    assert Client(HTTP_HOST=globex.host).get("/branding/logo/").status_code == 404  # globex has none
    assert 'src="/branding/logo/"' not in client_for(globex, globex.partner_user).get("/").content.decode()
