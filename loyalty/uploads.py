"""Upload scanning: every uploaded file is judged by its content (type, structure, size), never by its name."""

import codecs
import re
import warnings
from dataclasses import dataclass
from pathlib import PurePath

import filetype
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models.fields.files import FieldFile
from django.http import FileResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from PIL import Image

SNIFF_BYTES = 8192
PDF_TAIL_BYTES = 2048
# A ZIP archive is read from its end record, which lies in the last 64 KiB + 22 bytes: an image or PDF with one
# there is also a ZIP (a JAR, an Office file…), the classic "GIFAR" polyglot.
ZIP_TAIL_BYTES = 65_557
ZIP_END_RECORD = b"PK\x05\x06"
# Markup a browser would run if it ever sniffed the file as HTML or SVG; eight or more bytes, so a chance match
# in compressed image data is out of the question.
MARKUP = re.compile(rb"<(?:script|html|body|iframe|svg|object|embed)[\s>/]|<\?php|javascript:", re.IGNORECASE)
# PDF actions that run code or other programs when the document is opened.
PDF_ACTIVE_CONTENT = re.compile(rb"/(?:JavaScript|JS|Launch|EmbeddedFile|RichMedia)\b")


@dataclass(frozen=True)
class UploadKind:
    """What one kind of upload may be: content types (as sniffed) with the extensions each may carry."""

    name: str
    label: str
    types: dict[str, frozenset[str]]
    max_bytes_setting: str
    too_large: str = gettext_lazy("Files are limited to %(mb)s MB.")

    @property
    def max_bytes(self) -> int:
        return getattr(settings, self.max_bytes_setting)


PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
WEBP = "image/webp"
CSV = "text/csv"
IMAGE_TYPES = {
    PNG: frozenset({".png"}),
    JPEG: frozenset({".jpg", ".jpeg"}),
    GIF: frozenset({".gif"}),
    WEBP: frozenset({".webp"}),
}
# Pillow's name for each image type: the decoder must agree with the magic bytes.
PILLOW_FORMATS = {PNG: "PNG", JPEG: "JPEG", GIF: "GIF", WEBP: "WEBP"}

EVIDENCE = UploadKind(
    "evidence",
    gettext_lazy("PDF, PNG or JPEG"),
    {PDF: frozenset({".pdf"}), PNG: IMAGE_TYPES[PNG], JPEG: IMAGE_TYPES[JPEG]},
    "EVIDENCE_MAX_BYTES",
)
IMAGE = UploadKind("image", gettext_lazy("PNG, JPEG, GIF or WebP"), IMAGE_TYPES, "IMAGE_MAX_BYTES")
CSV_TEXT = UploadKind(
    "csv",
    gettext_lazy("CSV (UTF-8 text)"),
    {CSV: frozenset({".csv", ".txt"})},
    "IMPORT_MAX_BYTES",
    gettext_lazy("Files are limited to %(mb)s MB; split it."),
)


def sniff_content_type(head: bytes) -> str | None:
    """The content type the first bytes prove, or None for text and unknown formats."""
    kind = filetype.guess(head)
    if kind is None:
        return None
    return PNG if kind.mime == "image/apng" else kind.mime  # an animated PNG is a PNG to every decoder


class UploadRefused(ValidationError):
    """A refused upload; `message` says why in words for the person who sent it."""


def _check_image(file: UploadedFile, content_type: str) -> None:
    file.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                image_format = image.format
                pixels = image.width * image.height
                image.verify()
    except Exception as error:  # Pillow raises many types for a broken file; all mean "not an image"
        raise UploadRefused(_("The image is damaged or not really an image.")) from error
    if image_format != PILLOW_FORMATS[content_type]:
        raise UploadRefused(_("The image's content does not match its type."))
    if pixels > settings.IMAGE_MAX_PIXELS:
        raise UploadRefused(_("The image is too large (%(pixels)s pixels).") % {"pixels": pixels})


def _check_pdf(content: bytes) -> None:
    tail = content[-PDF_TAIL_BYTES:]
    if b"%%EOF" not in tail or (b"startxref" not in content and b"trailer" not in content):
        raise UploadRefused(_("The PDF is damaged (no trailer or end marker)."))
    if PDF_ACTIVE_CONTENT.search(content):
        raise UploadRefused(_("PDFs with scripts, launch actions or embedded files are refused."))


def _check_text(file: UploadedFile) -> None:
    """UTF-8 text without NULs, read a chunk at a time (imports are the largest uploads)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    file.seek(0)
    for block in [*file.chunks(), b""]:
        try:
            decoder.decode(block, final=not block)
        except UnicodeDecodeError as error:
            raise UploadRefused(
                _("The file is not UTF-8 text (byte %(offset)s). Save it as “CSV UTF-8” from your spreadsheet.")
                % {"offset": offset + error.start + 1},
            ) from error
        if b"\x00" in block:
            raise UploadRefused(_("The file is not text: it contains NUL bytes."))
        offset += len(block)
    file.seek(0)


def upload_scan(*, file: UploadedFile, kind: UploadKind, field: str | None = None) -> str:
    """Check an upload's size, real type, extension and structure; returns its content type.

    Raises ValidationError keyed by `field` (default: the kind's name). The file is rewound for whoever saves it.
    """
    try:
        return _scan(file, kind)
    except UploadRefused as refusal:
        raise ValidationError({field or kind.name: refusal.messages}) from refusal


def _scan(file: UploadedFile, kind: UploadKind) -> str:
    if not file.size:
        raise UploadRefused(_("The file is empty."))
    if file.size > kind.max_bytes:
        raise UploadRefused(kind.too_large % {"mb": kind.max_bytes // 2**20})
    file.seek(0)
    sniffed = sniff_content_type(file.read(SNIFF_BYTES))
    file.seek(0)
    if kind is CSV_TEXT:
        if sniffed is not None:
            raise UploadRefused(_("The file is a %(type)s file, not CSV text.") % {"type": sniffed})
        _check_text(file)
        sniffed = CSV
    extension = PurePath(file.name or "").suffix.lower()
    if sniffed not in kind.types or extension not in kind.types[sniffed]:
        raise UploadRefused(_("The file must be %(types)s, and its name must end as its type.") % {"types": kind.label})
    if sniffed == CSV:
        return sniffed
    content = file.read()  # images and evidence are capped at a few MB
    file.seek(0)
    if sniffed in PILLOW_FORMATS:
        _check_image(file, sniffed)
        file.seek(0)
    if sniffed == PDF:
        _check_pdf(content)
    if MARKUP.search(content) or ZIP_END_RECORD in content[-ZIP_TAIL_BYTES:]:
        raise UploadRefused(_("The file also carries web page, script or archive content."))
    return sniffed


class ScannedUploadsForm(forms.ModelForm):
    """A model form whose newly uploaded files are scanned; subclasses name each file field's kind."""

    upload_kinds: dict[str, UploadKind] = {}

    def clean(self) -> dict:
        cleaned = super().clean()
        for name, kind in self.upload_kinds.items():
            upload = self.files.get(self.add_prefix(name))
            if upload is not None and name not in self.errors:
                try:
                    upload_scan(file=upload, kind=kind, field=name)
                except ValidationError as error:
                    self.add_error(None, error)
        return cleaned


def stored_upload_response(file: FieldFile, *, filename: str, kind: UploadKind = EVIDENCE) -> FileResponse:
    """Serve a stored upload safely: its type from its content (one the kind allows, else a download), inline
    under a fixed name for images and PDFs, sandboxed and never sniffed by the browser."""
    handle = file.open("rb")
    content_type = sniff_content_type(handle.read(SNIFF_BYTES))
    if content_type not in kind.types:
        content_type = "application/octet-stream"
    handle.seek(0)
    response = FileResponse(
        handle,
        content_type=content_type,
        as_attachment=content_type == "application/octet-stream",
        filename=f"{filename}{PurePath(file.name).suffix.lower()}",
    )
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["X-Content-Type-Options"] = "nosniff"
    return response
