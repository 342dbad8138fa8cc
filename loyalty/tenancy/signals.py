"""Security events that Django and allauth announce only as signals (sign-in, sign-out, passwords, MFA).

The house rule is "no signals": writes go through services. These are the exception because the framework
owns the flows (allauth's views call django.contrib.auth.login); each receiver does nothing but call
`audit_record` for the tenant whose host the request came to. Requests on the platform host are not recorded.
"""

from django.apps import apps
from django.contrib.auth import signals as auth_signals
from django.dispatch import Signal
from django.http import HttpRequest

from loyalty.tenancy.context_processors import program_count_recorded
from loyalty.tenancy.models import SESSION_HOST_KEY, AuditEntry, User, session_host
from loyalty.tenancy.services import audit_record

Category = AuditEntry.Category


def _record(
    request: HttpRequest | None, *, category: str, summary: str, actor: User | None, changes: dict | None = None
) -> None:
    if request is None or getattr(request, "tenant", None) is None:
        return  # the platform host, a management command, or the test client's force_login
    audit_record(
        actor=actor,
        action=AuditEntry.Action.ACTION,
        target=actor,
        category=category,
        summary=summary,
        changes=changes,
        request=request,
    )


# How the first step of a sign-in was made, as allauth records it in the session ("mfa" is a second step), and what
# the security log's "Sign-in method" filter calls it (the entry keeps it in changes["sign_in"]["method"]).
SIGN_IN_METHODS = {"password": "password", "code": "code", "handoff": "handoff", "socialaccount": "sso"}
FIRST_STEPS = {
    "password": "with a password",
    "code": "with a code sent by email",
    "handoff": "from My programs (hand-off)",
    "socialaccount": "with single sign-on",
}


def sign_in_method(request: HttpRequest) -> tuple[str, dict]:
    """ "with a password and a second factor", "with single sign-on (Acme Okta)": the steps allauth recorded for
    this session's sign-in, in words and as data ({"method": "sso", "provider": "Acme Okta", "mfa": False})."""
    records = request.session.get("account_authentication_methods", [])
    first_record = next((record for record in records if record.get("method") in FIRST_STEPS), {})
    method = first_record.get("method", "")
    first = FIRST_STEPS.get(method, "")
    data = {"method": SIGN_IN_METHODS.get(method, "other"), "mfa": any(r.get("method") == "mfa" for r in records)}
    if method == "socialaccount":
        data["provider"] = identity_provider_name(request, first_record.get("provider", ""))
        first += f" ({data['provider']})"
    second = " and a second factor" if data["mfa"] else ""
    return f"{first}{second}".strip(), data


def identity_provider_name(request: HttpRequest, provider_id: str) -> str:
    """The name the program gave its identity provider, asked of allauth (whose adapter serves the host's own)."""
    from allauth.socialaccount.adapter import get_adapter

    apps = get_adapter().list_apps(request, provider=provider_id) if provider_id else []
    return apps[0].name if apps else provider_id or "unknown provider"


def signed_in(sender: type, request: HttpRequest, user: User, **kwargs) -> None:
    if request is not None and hasattr(request, "tenant") and hasattr(request, "session"):
        # The session belongs to the host it was opened on (MembershipMiddleware refuses it anywhere else).
        request.session[SESSION_HOST_KEY] = session_host(request)
        # Counted here rather than on every page (it reads across tenants, outside the host's scope), and again
        # only after a tenancy write (context_processors.py).
        program_count_recorded(request, user)
    method, data = sign_in_method(request) if request is not None and hasattr(request, "session") else ("", {})
    changes = {"sign_in": data} if data else None
    _record(request, category=Category.SIGN_IN, summary=f"Signed in {method}".strip(), actor=user, changes=changes)


def signed_out(sender: type, request: HttpRequest, user: User | None, **kwargs) -> None:
    if user is not None:
        _record(request, category=Category.SIGN_IN, summary="Signed out", actor=user)


def sign_in_failed(sender: str, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    # Django has already masked the password in `credentials`; the address tried is kept, the account not linked.
    tried = credentials.get("email") or credentials.get("username") or "?"
    _record(request, category=Category.SIGN_IN, summary=f"Failed sign-in as {tried}"[:300], actor=None)


def _credentials_receiver(summary: str):  # noqa: ANN202 - a signal receiver
    def receiver(sender: object, request: HttpRequest, user: User, **kwargs) -> None:
        _record(request, category=Category.CREDENTIALS, summary=summary, actor=user)

    return receiver


def _mfa_receiver(verb: str):  # noqa: ANN202 - a signal receiver
    def receiver(sender: object, request: HttpRequest, user: User, authenticator: object = None, **kwargs) -> None:
        kind = getattr(authenticator, "get_type_display", lambda: "two-factor")()
        _record(request, category=Category.CREDENTIALS, summary=f"{verb} {kind}", actor=user)

    return receiver


def _account_signals() -> dict[Signal, object]:
    from allauth.account import signals as account

    return {
        account.password_changed: _credentials_receiver("Changed their password"),
        account.password_set: _credentials_receiver("Set a password"),
        account.password_reset: _credentials_receiver("Reset their password by email"),
    }


def _mfa_signals() -> dict[Signal, object]:
    """allauth.mfa's signals when the app is installed (importing them otherwise raises: they load its models)."""
    if not apps.is_installed("allauth.mfa"):
        return {}
    from allauth.mfa import signals as mfa

    return {
        mfa.authenticator_added: _mfa_receiver("Turned on"),
        mfa.authenticator_removed: _mfa_receiver("Turned off"),
        mfa.authenticator_reset: _mfa_receiver("Reset"),
    }


def connect() -> None:
    """Connect every receiver once (called from TenancyConfig.ready)."""
    receivers = {
        auth_signals.user_logged_in: signed_in,
        auth_signals.user_logged_out: signed_out,
        auth_signals.user_login_failed: sign_in_failed,
        **_account_signals(),
        **_mfa_signals(),
    }
    for signal, receiver in receivers.items():
        signal.connect(receiver, dispatch_uid="tenancy.audit", weak=False)  # one receiver per signal
