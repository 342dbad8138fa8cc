"""The SSRF guard: in production settings a webhook never reaches a non-public address, at save or send time."""

import socket

import pytest
from django.core.exceptions import ValidationError

from loyalty.tenancy.context import tenant_context
from tests.conftest import World
from tests.webhooks.conftest import ALL_EVENTS, Receiver
from webhooks.addresses import address_is_public, validate_webhook_url
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.sending import webhook_post
from webhooks.services import webhook_test_send

PUBLIC_IPV4 = "93.184.215.14"


@pytest.fixture
def production(settings) -> None:
    """What production settings say (TIERLINE_WEBHOOKS_ALLOW_* unset, DEBUG off)."""
    settings.WEBHOOKS_ALLOW_HTTP = False
    settings.WEBHOOKS_ALLOW_PRIVATE = False


NOT_PUBLIC = [  # URL, its host, the address it reaches
    ("https://127.0.0.1/hook", "127.0.0.1", "127.0.0.1"),
    ("https://127.9.9.9:8443/hook", "127.9.9.9", "127.9.9.9"),
    ("https://10.1.2.3/hook", "10.1.2.3", "10.1.2.3"),
    ("https://172.16.0.1/hook", "172.16.0.1", "172.16.0.1"),
    ("https://172.31.255.254/hook", "172.31.255.254", "172.31.255.254"),
    ("https://192.168.1.10/hook", "192.168.1.10", "192.168.1.10"),
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254", "169.254.169.254"),
    ("https://100.64.0.1/hook", "100.64.0.1", "100.64.0.1"),
    ("https://0.0.0.0/hook", "0.0.0.0", "0.0.0.0"),  # noqa: S104 - a URL under test, not a bind
    ("https://224.0.0.251/hook", "224.0.0.251", "224.0.0.251"),
    ("https://240.0.0.1/hook", "240.0.0.1", "240.0.0.1"),
    ("https://[::1]/hook", "::1", "::1"),
    ("https://[fc00::1]/hook", "fc00::1", "fc00::1"),
    ("https://[fd12:3456::1]/hook", "fd12:3456::1", "fd12:3456::1"),
    ("https://[fe80::1]/hook", "fe80::1", "fe80::1"),
    ("https://[ff02::1]/hook", "ff02::1", "ff02::1"),
    ("https://[::ffff:127.0.0.1]/hook", "::ffff:127.0.0.1", "::ffff:127.0.0.1"),
    ("https://[::ffff:10.0.0.1]/hook", "::ffff:10.0.0.1", "::ffff:10.0.0.1"),
    ("https://localhost/hook", "localhost", "127.0.0.1"),  # a host name resolving to loopback
]


@pytest.mark.usefixtures("production")
@pytest.mark.parametrize(("url", "host", "address"), NOT_PUBLIC)
def test_non_public_addresses_are_refused_with_a_clear_error(url: str, host: str, address: str) -> None:
    with pytest.raises(ValidationError) as refused:
        validate_webhook_url(url)
    assert refused.value.messages == [
        f"Webhook URLs must reach a public address; {host} resolves to {address}, which is not public."
    ]


@pytest.mark.usefixtures("production")
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "Webhook URLs must use https."),
        ("gopher://example.com/", "Webhook URLs must use https."),
        (f"http://{PUBLIC_IPV4}/hook", "Webhook URLs must use https."),
        (
            f"https://user:secret@{PUBLIC_IPV4}/hook",
            "Webhook URLs cannot carry credentials; verify the signature instead.",
        ),
        ("https:///hook", "The webhook URL needs a host."),
        ("https://no-such-host.invalid/hook", "The host no-such-host.invalid cannot be resolved."),
    ],
)
def test_other_schemes_credentials_and_unknown_hosts_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        validate_webhook_url(url)
    assert refused.value.messages == [message]


@pytest.mark.usefixtures("production")
def test_a_public_https_address_is_accepted() -> None:
    validate_webhook_url(f"https://{PUBLIC_IPV4}/hooks/tierline")
    validate_webhook_url("https://[2606:4700:4700::1111]:8443/hooks")
    assert address_is_public("8.8.8.8")
    assert address_is_public("2001:4860:4860::8888")


def test_the_setting_allows_loopback_and_http_for_tests_and_the_demo(settings) -> None:
    settings.WEBHOOKS_ALLOW_HTTP, settings.WEBHOOKS_ALLOW_PRIVATE = True, True
    validate_webhook_url("http://127.0.0.1:8080/hook")
    validate_webhook_url("http://localhost/hook")
    validate_webhook_url("https://[::1]/hook")
    # The scheme and credential rules hold whatever the setting.
    with pytest.raises(ValidationError):
        validate_webhook_url("file:///etc/passwd")
    with pytest.raises(ValidationError):
        validate_webhook_url("http://user:pw@127.0.0.1/hook")


@pytest.mark.usefixtures("production")
def test_saving_an_endpoint_on_a_private_address_is_refused_and_saves_nothing(acme: World) -> None:
    with tenant_context(acme.tenant):
        endpoint = WebhookEndpoint(url="https://192.168.0.5/hook", events=ALL_EVENTS)
        with pytest.raises(ValidationError) as refused:
            endpoint.full_clean()
        assert "url" in refused.value.message_dict
        assert WebhookEndpoint.objects.count() == 0


def test_an_endpoint_that_became_private_is_refused_at_send_time(
    acme: World, receiver: Receiver, settings, django_capture_on_commit_callbacks
) -> None:
    # Saved while loopback was allowed (or its DNS changed since): production settings refuse to send to it.
    with tenant_context(acme.tenant):
        endpoint = WebhookEndpoint.objects.create(url=receiver.url, events=ALL_EVENTS)
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    with tenant_context(acme.tenant), django_capture_on_commit_callbacks(execute=True):
        delivery = webhook_test_send(endpoint=endpoint)
    with tenant_context(acme.tenant):
        delivery.refresh_from_db()
    assert receiver.received == []
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (WebhookDelivery.Status.PENDING, 1, None)
    assert delivery.last_error == (
        "Webhook URLs must reach a public address; 127.0.0.1 resolves to 127.0.0.1, which is not public."
    )


def test_dns_rebinding_to_loopback_between_check_and_connect_is_refused(
    receiver: Receiver, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hostile DNS server answers a public address to the check, then loopback to the connection."""
    settings.WEBHOOKS_ALLOW_PRIVATE = False  # http stays allowed: the receiver speaks plain http
    real_getaddrinfo = socket.getaddrinfo
    answers = iter([PUBLIC_IPV4, "127.0.0.1", "127.0.0.1"])

    def rebinding(host: str, port: int, *args: object, **kwargs: object) -> list:
        if host == "rebind.test":
            return real_getaddrinfo(next(answers), port, *args, **kwargs)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    outcome = webhook_post(
        url=f"http://rebind.test:{receiver.server.server_port}/hook",
        secret="whsec_test",
        event="webhook.test",
        event_id="00000000-0000-0000-0000-000000000000",
        body=b"{}",
    )
    assert outcome.status_code is None
    assert outcome.error == "Refused to send to 127.0.0.1: not a public address."
    assert receiver.received == []
