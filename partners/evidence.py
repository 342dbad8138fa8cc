"""Evidence uploads: size and type limits checked on the content, stored under a random name per tenant."""

import uuid
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

# Content type by the file's first bytes; the name's extension must agree.
SIGNATURES = {
    b"%PDF-": ("application/pdf", {".pdf"}),
    b"\x89PNG\r\n\x1a\n": ("image/png", {".png"}),
    b"\xff\xd8\xff": ("image/jpeg", {".jpg", ".jpeg"}),
}


def evidence_content_type(head: bytes) -> str | None:
    for signature, (content_type, _extensions) in SIGNATURES.items():
        if head.startswith(signature):
            return content_type
    return None


def validate_evidence(file: UploadedFile) -> str:
    """Check an upload's size and real type; returns its content type or raises ValidationError."""
    if file.size is None or file.size == 0:
        raise ValidationError({"evidence": _("The evidence file is empty.")})
    if file.size > settings.EVIDENCE_MAX_BYTES:
        raise ValidationError(
            {"evidence": _("Evidence files are limited to %(mb)s MB.") % {"mb": settings.EVIDENCE_MAX_BYTES // 2**20}}
        )
    file.seek(0)
    head = file.read(16)
    file.seek(0)
    extension = PurePath(file.name or "").suffix.lower()
    for signature, (content_type, extensions) in SIGNATURES.items():
        if head.startswith(signature) and extension in extensions:
            return content_type
    raise ValidationError({"evidence": _("Evidence must be a PDF, PNG or JPEG file.")})


def evidence_path(instance: object, filename: str) -> str:
    """evidence/<tenant id>/<random>.<ext>: no user-chosen names on disk."""
    return f"evidence/{instance.tenant_id}/{uuid.uuid4().hex}{PurePath(filename).suffix.lower()}"
