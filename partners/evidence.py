"""Evidence uploads: scanned by content (loyalty.uploads), stored under a random name per tenant."""

import uuid
from pathlib import PurePath

from django.core.files.uploadedfile import UploadedFile

from loyalty.uploads import EVIDENCE, upload_scan


def validate_evidence(file: UploadedFile) -> str:
    """Check an upload's size, real type and structure; returns its content type or raises ValidationError."""
    return upload_scan(file=file, kind=EVIDENCE)


def evidence_path(instance: object, filename: str) -> str:
    """evidence/<tenant id>/<random>.<ext>: no user-chosen names on disk."""
    return f"evidence/{instance.tenant_id}/{uuid.uuid4().hex}{PurePath(filename).suffix.lower()}"
