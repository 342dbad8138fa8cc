"""The test identity provider's sign-in page, its claims, and two switches that tests use to make it misbehave.

Sign-in takes an email address (no password: who signs in is the test's choice) plus the extra claims to send
(a role and a partner id). `POST /test/misbehave/` with mode=issuer or mode=audience makes the next ID tokens
name another issuer or another audience, as a wrongly configured or hostile provider would.
"""

import json
from html import escape

from django.contrib.auth import get_user_model, login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.models import get_application_model
from oauth2_provider.oauth2_validators import OAuth2Validator

EXTRA_CLAIMS: dict[str, dict] = {}  # email → claims to add to the ID token and userinfo
MISBEHAVIOUR = {"mode": ""}

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test identity provider</title>
<meta name="viewport" content="width=device-width"></head><body>
<h1>Test identity provider</h1><form method="post"><input type="hidden" name="next" value="{next}">
<p><label for="email">Email</label> <input id="email" name="email" type="email" required></p>
<p><label for="role">Role claim</label> <input id="role" name="role"></p>
<p><label for="partner">Partner claim</label> <input id="partner" name="partner"></p>
<p><button type="submit">Sign in at the identity provider</button></p></form></body></html>"""


class Validator(OAuth2Validator):
    oidc_claim_scope = None  # every claim, whatever the scopes

    def get_additional_claims(self, request: object) -> dict:
        user = request.user
        return {
            "email": user.email,
            "email_verified": True,
            "given_name": user.first_name,
            "family_name": user.last_name,
            **EXTRA_CLAIMS.get(user.email, {}),
        }

    def get_id_token_dictionary(self, token: object, token_handler: object, request: object) -> tuple[dict, int]:
        claims, expiration = super().get_id_token_dictionary(token, token_handler, request)
        if MISBEHAVIOUR["mode"] == "issuer":
            claims["iss"] = "http://127.0.0.1:9/not-the-configured-issuer"
        elif MISBEHAVIOUR["mode"] == "audience":
            claims["aud"] = "another-relying-party"
        return claims, expiration


@csrf_exempt
def sign_in(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "/"
    if request.method != "POST":
        return HttpResponse(PAGE.format(next=escape(next_url)))
    email = request.POST["email"].strip().lower()
    user, _created = get_user_model().objects.get_or_create(username=email, defaults={"email": email})
    EXTRA_CLAIMS[email] = {
        key: value
        for key, value in (("tierline_role", request.POST.get("role")), ("partner_id", request.POST.get("partner")))
        if value
    }
    login(request, user)
    return redirect(next_url)


@csrf_exempt
def client_register(request: HttpRequest) -> JsonResponse:
    """Register (or update) a confidential client with its redirect URIs: the relying party under test."""
    body = json.loads(request.body)
    Application = get_application_model()
    Application.objects.update_or_create(
        client_id=body["client_id"],
        defaults={
            "client_secret": body["client_secret"],
            "redirect_uris": " ".join(body["redirect_uris"]),
            "client_type": Application.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "algorithm": Application.RS256_ALGORITHM,
            "skip_authorization": True,
            "name": body["client_id"],
            "hash_client_secret": False,
        },
    )
    return JsonResponse({"ok": True})


@csrf_exempt
def misbehave(request: HttpRequest) -> JsonResponse:
    MISBEHAVIOUR["mode"] = request.POST.get("mode", "")
    return JsonResponse(MISBEHAVIOUR)
