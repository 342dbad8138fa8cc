"""Invitation acceptance and the health check."""

import logging
import mimetypes

import redis
from allauth.account.internal.flows.login import perform_login, record_authentication
from allauth.account.models import Login
from celery import current_app as app  # the project's app (loyalty.celery), without importing the wiring
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from loyalty.tenancy.forms import InvitationSignupForm
from loyalty.tenancy.models import User
from loyalty.tenancy.selectors import invitation_from_token
from loyalty.tenancy.services import HandoffRefusedError, handoff_redeem, invitation_accept, invitation_signup

logger = logging.getLogger(__name__)


@never_cache
def invitation_detail(request: HttpRequest, token: str) -> HttpResponse:
    """Accept an invitation: sign in as the invited address, or create the account if there is none."""
    invitation = invitation_from_token(token=token)
    if invitation is None:
        raise Http404
    context = {"invitation": invitation, "problem": None}
    if not invitation.is_pending:
        context["problem"] = _("This invitation has expired, was revoked or was already used.")
        return render(request, "tenancy/invitation.html", context, status=410)
    has_account = User.objects.filter(email__iexact=invitation.email).exists()
    if request.user.is_authenticated:
        if request.user.email.lower() != invitation.email.lower():
            context["problem"] = _("You are signed in as %(current)s, but this invitation is for %(invited)s.") % {
                "current": request.user.email,
                "invited": invitation.email,
            }
            return render(request, "tenancy/invitation.html", context, status=403)
        if request.method == "POST":
            try:
                invitation_accept(invitation=invitation, user=request.user)
            except ValidationError as error:
                context["problem"] = " ".join(error.messages)
                return render(request, "tenancy/invitation.html", context, status=409)
            messages.success(request, _("Welcome to %(program)s.") % {"program": request.tenant.name})
            return redirect("portal:home")
        return render(request, "tenancy/invitation.html", context)
    if has_account:
        context["sign_in_first"] = True
        return render(request, "tenancy/invitation.html", context)
    form = InvitationSignupForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        try:
            user = invitation_signup(
                invitation=invitation,
                password=form.cleaned_data["password1"],
                first_name=form.cleaned_data["first_name"],
                last_name=form.cleaned_data["last_name"],
            )
        except ValidationError as error:
            context["problem"] = " ".join(error.messages)
            return render(request, "tenancy/invitation.html", context, status=409)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Welcome to %(program)s.") % {"program": request.tenant.name})
        return redirect("portal:home")
    context["form"] = form
    return render(request, "tenancy/invitation.html", context, status=400 if form.errors else 200)


def _database_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.exception("Health check: database unreachable")
        return "down"
    return "ok"


def _broker_state() -> str:
    if app.conf.task_always_eager:
        return "in-process"
    try:
        with app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, timeout=2)
    except Exception:
        logger.exception("Health check: broker unreachable")
        return "down"
    return "ok"


def _cache_state() -> str:
    if not settings.REDIS_URL:
        return "local"
    try:
        with redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1) as client:
            client.ping()
    except redis.RedisError:
        logger.exception("Health check: Redis cache unreachable")
        return "down"
    return "ok"


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Each dependency's state. 503 "down" only when the database is: without Redis the portal still serves
    (tasks run in-process, rate limits fail open), so a broker or cache outage is 200 "degraded"."""
    checks = {"database": _database_state(), "broker": _broker_state(), "cache": _cache_state()}
    if checks["database"] == "down":
        return JsonResponse({"status": "down", "checks": checks}, status=503)
    degraded = "down" in checks.values()
    return JsonResponse({"status": "degraded" if degraded else "ok", "checks": checks})


@require_GET
def tenant_logo(request: HttpRequest) -> FileResponse:
    """The tenant's logo, public (it brands the sign-in page too); uploads are images validated by Pillow."""
    logo = request.tenant.logo if request.tenant else None
    if not logo:
        raise Http404
    content_type = mimetypes.guess_type(logo.name)[0] or "application/octet-stream"
    if not content_type.startswith("image/") or content_type == "image/svg+xml":
        raise Http404
    response = FileResponse(logo.open("rb"), content_type=content_type)
    response["Cache-Control"] = "public, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@never_cache
@require_GET
def handoff_accept(request: HttpRequest) -> HttpResponse:
    """Arrive from the platform's "My programs" without typing the password again; two-factor still applies."""
    try:
        user = handoff_redeem(token=request.GET.get("token", ""), tenant=request.tenant)
    except HandoffRefusedError:
        messages.error(request, _("That link to the program has expired or was already used. Sign in here instead."))
        return redirect("account_login")
    if request.user.is_authenticated and request.user.pk == user.pk:
        return redirect("/")
    record_authentication(request, user, method="handoff")
    return perform_login(request, Login(user=user, redirect_url="/"))
