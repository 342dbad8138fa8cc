"""The SSRF guard: which webhook URLs are acceptable, checked at save time and again at send time.

In production a webhook may only reach public addresses: the URL's host is resolved and every address it
resolves to must be global unicast. `TIERLINE_WEBHOOKS_ALLOW_PRIVATE` turns the address check off (tests and
the demo, whose receivers run on loopback); the scheme and credential rules always apply.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_is_public(address: str) -> bool:
    """True for a global unicast address; loopback, private, link-local, reserved, multicast and the like are not."""
    ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        # ::ffff:127.0.0.1 reaches 127.0.0.1; judge the IPv4 address it carries.
        ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_multicast or ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_unspecified
    )


def host_addresses(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (IPv4 and IPv6); a ValidationError when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise ValidationError(_("The host %(host)s cannot be resolved.") % {"host": host}) from error
    return sorted({info[4][0] for info in infos})


def validate_webhook_url(url: str) -> None:
    """Refuse URLs a webhook must never call: other schemes, credentials, and (in production) non-public hosts."""
    parts = urlsplit(url)
    schemes = ("https", "http") if settings.WEBHOOKS_ALLOW_HTTP else ("https",)
    if parts.scheme not in schemes:
        raise ValidationError(_("Webhook URLs must use %(schemes)s.") % {"schemes": " or ".join(schemes)})
    if parts.username is not None or parts.password is not None:
        raise ValidationError(_("Webhook URLs cannot carry credentials; verify the signature instead."))
    if not parts.hostname:
        raise ValidationError(_("The webhook URL needs a host."))
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise ValidationError(_("The webhook URL has an invalid port.")) from error
    if settings.WEBHOOKS_ALLOW_PRIVATE:
        return
    for address in host_addresses(parts.hostname, port):
        if not address_is_public(address):
            raise ValidationError(
                _("Webhook URLs must reach a public address; %(host)s resolves to %(address)s, which is not public.")
                % {"host": parts.hostname, "address": address}
            )
