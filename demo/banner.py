"""The demo's "ready" banner: where to sign in, with which logins, and where the demo's emails go."""

from django.conf import settings

from demo.seed import DEMO_PASSWORD, DEMO_TENANTS, MULTI_PROGRAM_EMAIL, PLATFORM_ADMIN_EMAIL

FILE_EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"


def demo_banner() -> str:
    port = f":{settings.PUBLIC_PORT}" if settings.PUBLIC_PORT else ""
    base = f"{settings.PUBLIC_SCHEME}://{{host}}{port}"
    lines = ["", "Tierline demo is ready. Password for every login: " + DEMO_PASSWORD, ""]
    for spec in DEMO_TENANTS:
        url = base.format(host=f"{spec.slug}.{settings.BASE_DOMAIN}")
        lines.append(f"  {spec.name}: {url}/accounts/login/")
        lines.append(f"    owner@{spec.slug}.example        owner (also {url}/admin/)")
        lines.append(f"    manager@{spec.slug}.example      program manager (also {url}/admin/)")
        lines.append(f"    am@{spec.slug}.example           account manager")
        lines.append(f"    partner@{spec.slug}.example      partner admin of {spec.partner_names[0]}")
        lines.append("")
    platform = base.format(host=settings.BASE_DOMAIN)
    lines.append(f"  Platform admin: {platform}/admin/  ({PLATFORM_ADMIN_EMAIL})")
    lines.append(f"  My programs: {platform}/programs/  ({MULTI_PROGRAM_EMAIL} belongs to both programs)")
    lines.append("")
    if settings.MFA_REQUIRED:
        lines.append("  Owners and program managers must set up an authenticator app (TOTP) on first sign-in.")
    else:
        lines.append("  Two-factor sign-in is optional here (TIERLINE_MFA_REQUIRED=0); try it at /accounts/2fa/.")
    if settings.EMAIL_BACKEND == FILE_EMAIL_BACKEND:
        lines.append(f"  Emails are written to {settings.EMAIL_FILE_PATH}/ (and shown in each member's notifications).")
    lines.append("")
    return "\n".join(lines)
