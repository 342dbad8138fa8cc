"""CSV import of activities in the tenant admin: upload checks, the dry run, the import itself, in chunks."""

import csv
import io
import threading
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from imports.ingest import INGEST_FIELDS, IngestStatus, IngestTurn, activities_ingest
from loyalty.exports import csv_text
from loyalty.streams import streams_run
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import User
from loyalty.tenancy.tasks import enqueue_on_commit
from loyalty.uploads import CSV_TEXT, upload_scan
from partners.models import Activity, ImportJob

IMPORT_COLUMNS = tuple(name for name in INGEST_FIELDS if name != "metadata")
REQUIRED_COLUMNS = ("partner", "external_id", "kind", "occurred_at")
# Rows per chunk: each chunk locks, reads and writes the accounts it touches once, in its turn (bench/README.md,
# "The serialized turn"), so fewer, larger chunks spend less of the streams' serial path per row.
CHUNK_ROWS = 4_000
# Files up to this many rows are checked and imported during the request; larger ones by a Celery task.
INLINE_ROWS = 2_000
ERRORS_KEPT = 200
PREVIEW_ROWS = 10
FIRST_DATA_ROW = 2  # row 1 is the header, as a spreadsheet numbers it

TEMPLATE_ROWS = [
    {
        "partner": "CRM-00042",
        "external_id": "INV-2026-0001",
        "kind": "sale",
        "occurred_at": "2026-03-31T14:30:00+02:00",
        "amount": "1250.00",
        "currency": "USD",
        "quantity": "3",
        "product_sku": "SW-24P",
        "product_category": "switches",
        "member": "ana@partner.example",
    },
    {
        "partner": "CRM-00042",
        "external_id": "LMS-7781",
        "kind": "certification",
        "occurred_at": "2026-04-02",
        "code": "CERT-NET-PRO",
        "valid_until": "2028-04-02",
    },
]


def import_template_csv() -> str:
    """The documented columns with two example rows, for program managers to download and fill in."""
    return csv_text(IMPORT_COLUMNS, ([row.get(column) for column in IMPORT_COLUMNS] for row in TEMPLATE_ROWS))


def header_problems(header: list[str], *, columns: Sequence[str], required: Sequence[str]) -> list[str]:
    """What is wrong with a CSV file's header row: unknown, missing (of `required`) and repeated columns."""
    names = [column.strip() for column in header]
    problems = []
    unknown = [column for column in names if column not in columns]
    if unknown:
        problems.append(
            _("Unknown columns: %(unknown)s. The columns are: %(columns)s.")
            % {"unknown": ", ".join(repr(column) for column in unknown), "columns": ", ".join(columns)}
        )
    missing = [column for column in required if column not in names]
    if missing:
        problems.append(_("Missing columns: %(missing)s.") % {"missing": ", ".join(missing)})
    repeated = sorted({column for column in names if names.count(column) > 1})
    if repeated:
        problems.append(_("Repeated columns: %(repeated)s.") % {"repeated": ", ".join(repeated)})
    return problems


def _header_check(header: list[str]) -> None:
    if problems := header_problems(header, columns=IMPORT_COLUMNS, required=REQUIRED_COLUMNS):
        raise ValidationError({"file": problems})


def import_file_check(*, file: UploadedFile) -> int:
    """Refuse a file that is too big, not UTF-8 text, or without the documented header; returns its row count."""
    upload_scan(file=file, kind=CSV_TEXT, field="file")
    file.seek(0)
    text = _text(file)
    try:
        reader = csv.reader(text)
        header = next(reader, None)
        if not header:
            raise ValidationError({"file": _("The file has no header row.")})
        _header_check(header)
        rows = sum(1 for cells in reader if any(cells))
    except csv.Error as error:
        raise ValidationError({"file": _("The file is not valid CSV: %(error)s.") % {"error": error}}) from error
    finally:
        text.detach()  # the upload stays open for saving
    file.seek(0)
    if rows == 0:
        raise ValidationError({"file": _("The file has a header but no rows.")})
    return rows


def _text(binary: IO[bytes]) -> io.TextIOWrapper:
    # utf-8-sig drops the byte-order mark spreadsheets write; newline="" lets csv handle quoted line breaks.
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")


def csv_rows(binary: IO[bytes]) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number, {column: cell}) for each data row; blank cells are left out so they mean "not given"."""
    reader = csv.reader(_text(binary))
    header = [column.strip() for column in next(reader)]
    for number, cells in enumerate(reader, start=FIRST_DATA_ROW):
        if not any(cells):
            continue
        row = {column: cell for column, cell in zip(header, cells, strict=False) if cell != ""}
        if len(cells) > len(header):
            row["(extra cells)"] = ",".join(cells[len(header) :])
        yield number, row


@transaction.atomic
def import_job_create(*, file: UploadedFile, actor: User, approve: bool = True) -> ImportJob:
    """Check an uploaded CSV and store it as a job; small files are checked at once, large ones by a task."""
    total = import_file_check(file=file)
    job = ImportJob(
        tenant=current_tenant(),  # before saving: the file's path names the tenant
        created_by=actor,
        original_name=file.name[:255],
        approve=approve,
        total_rows=total,
    )
    job.file.save("import.csv", file, save=False)
    job.save()
    _run_or_enqueue(job=job, phase=ImportJob.Status.VALIDATING)
    return job


@transaction.atomic
def import_job_commit(*, job: ImportJob) -> ImportJob:
    """Start importing a checked job (again: nothing already imported is imported twice)."""
    locked = ImportJob.objects.select_for_update().get(pk=job.pk)
    resumable = locked.status == ImportJob.Status.FAILED and locked.started_at is not None
    if locked.status != ImportJob.Status.VALIDATED and not resumable:
        raise ValidationError(
            _("Only a checked import can be imported; this one is %(status)s.")
            % {"status": locked.get_status_display()}
        )
    _run_or_enqueue(job=locked, phase=ImportJob.Status.IMPORTING)
    return locked


def _run_or_enqueue(*, job: ImportJob, phase: str) -> None:
    ImportJob.objects.filter(pk=job.pk).update(status=phase)
    job.status = phase
    if job.total_rows <= INLINE_ROWS:
        import_job_run(job_id=job.pk, phase=phase)
        job.refresh_from_db()
    else:
        enqueue_on_commit("imports.import_job_process", job_id=job.pk, phase=phase)  # by name: the task imports this


def import_job_run(*, job_id: int, phase: str) -> None:
    """Check (dry run) or import a job's rows in chunks, saving progress with each chunk.

    An import resumes after the last chunk committed, so a redelivered task neither skips nor repeats rows.
    A check always starts over (it writes nothing but the report).
    """
    job = ImportJob.objects.get(pk=job_id)
    if job.status != phase:
        return  # another run finished or moved it meanwhile
    dry_run = phase == ImportJob.Status.VALIDATING
    if dry_run or job.started_at is None:
        fields = {"processed_rows": 0, "created_count": 0, "duplicate_count": 0, "error_count": 0}
        fields |= {"errors": [], "failure": ""} | ({"preview": []} if dry_run else {"started_at": timezone.now()})
        ImportJob.objects.filter(pk=job.pk).update(**fields)
        job.refresh_from_db()
    seen: set[str] = set()
    try:
        with job.file.open("rb") as binary:
            rows = islice(csv_rows(binary), job.processed_rows, None)
            chunks = iter(lambda: list(islice(rows, CHUNK_ROWS)), [])
            if _parallel_applies(job=job, dry_run=dry_run):
                _chunks_import(job=job, chunks=chunks, streams=settings.IMPORT_STREAMS)
            else:
                for chunk in chunks:
                    _chunk_run(job=job, chunk=chunk, dry_run=dry_run, seen=seen)
    except Exception as error:
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED, failure=str(error)[:2000], finished_at=timezone.now()
        )
        raise
    done = ImportJob.Status.VALIDATED if dry_run else ImportJob.Status.DONE
    ImportJob.objects.filter(pk=job.pk).update(
        status=done, **({"validated_at": timezone.now()} if dry_run else {"finished_at": timezone.now()})
    )


def _parallel_applies(*, job: ImportJob, dry_run: bool) -> bool:
    """Whether an import's chunks run in several streams: on PostgreSQL, more than one chunk left, and not inside a
    transaction (each stream commits its own chunks; inside one, the chunks run in it, one after the other)."""
    return (
        not dry_run
        and settings.IMPORT_STREAMS > 1
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and job.total_rows - job.processed_rows > CHUNK_ROWS
    )


class _Abandoned(Exception):
    """An earlier chunk of the import failed: this one must not commit (one stream would never have run it)."""


class _ChunkTurns:
    """Keeps the chunks of one import, run by several streams at once, to the outcome of one stream running them in
    order: a chunk inserts its activities only once every earlier chunk has named its external ids, and after
    every earlier chunk sharing one of them has committed (so a repeat across chunks is a duplicate of the earlier
    row, and neither insert waits on the other's key); it locks accounts, posts points and saves the job's progress
    only once every earlier chunk has committed (so the hash chains, caps and progress are in file order). A chunk
    waits only on earlier ones, which never wait on it: no deadlock. Once a chunk fails, later ones are abandoned.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._external_ids: dict[int, set[str]] = {}
        self._committed: dict[int, bool] = {}  # chunk number: committed (True) or failed or abandoned (False)

    def turn(self, number: int) -> IngestTurn:
        """The turn of the chunk `number` (0 for the run's first), to pass to `activities_ingest`."""
        return _ChunkTurn(turns=self, number=number)

    def finish(self, number: int, *, is_committed: bool) -> None:
        """The chunk `number` has committed, or will not."""
        with self._changed:
            self._committed[number] = is_committed
            self._changed.notify_all()

    def _wait(self, number: int, earlier_ready: Callable[[int], bool]) -> None:
        self._changed.wait_for(lambda: all(earlier_ready(earlier) for earlier in range(number)))
        if not all(self._committed.get(earlier, True) for earlier in range(number)):
            raise _Abandoned

    def before_insert(self, number: int, external_ids: set[str]) -> None:
        with self._changed:
            self._external_ids[number] = external_ids
            self._changed.notify_all()
            self._wait(number, lambda earlier: earlier in self._external_ids or earlier in self._committed)
            self._wait(
                number,
                lambda earlier: earlier in self._committed or not (self._external_ids[earlier] & external_ids),
            )

    def before_posting(self, number: int) -> None:
        with self._changed:
            self._wait(number, lambda earlier: earlier in self._committed)


class _ChunkTurn:
    def __init__(self, *, turns: _ChunkTurns, number: int) -> None:
        self._turns = turns
        self._number = number

    def before_insert(self, external_ids: set[str]) -> None:
        self._turns.before_insert(self._number, external_ids)

    def before_posting(self) -> None:
        self._turns.before_posting(self._number)


def _chunks_import(*, job: ImportJob, chunks: Iterator[list[tuple[int, dict[str, str]]]], streams: int) -> None:
    """Import `chunks` in `streams` threads, each with its own connection, in `_ChunkTurns`' order; raises the
    error of the first chunk that failed, after every chunk before it has committed (as one stream would)."""
    turns = _ChunkTurns()
    taking = threading.Lock()  # the file is read by one stream at a time, chunk after chunk
    taken = 0
    failures: dict[int, BaseException] = {}

    def stream() -> None:
        nonlocal taken
        try:
            while True:
                with taking:
                    number = taken
                    if failures:
                        return
                    try:
                        chunk = next(chunks, None)
                    except Exception as error:  # a file that stops reading fails where one stream would
                        failures[number] = error
                        return
                    if chunk is None:
                        return
                    taken += 1
                try:
                    _chunk_run(job=job, chunk=chunk, dry_run=False, seen=set(), turn=turns.turn(number))
                except _Abandoned:
                    turns.finish(number, is_committed=False)
                    return
                except Exception as error:
                    failures[number] = error
                    turns.finish(number, is_committed=False)
                    return
                turns.finish(number, is_committed=True)
        finally:
            connection.close()  # this thread's own

    def interrupted(interruption: BaseException) -> None:  # a time limit: no new chunk, the taken ones end first
        with taking:
            failures[taken] = interruption

    streams_run(stream, count=streams, interrupted=interrupted)
    if failures:
        raise failures[min(failures)]


@transaction.atomic
def _chunk_run(
    *,
    job: ImportJob,
    chunk: list[tuple[int, dict[str, str]]],
    dry_run: bool,
    seen: set[str],
    turn: IngestTurn | None = None,
) -> None:
    results = activities_ingest(
        rows=[row for _number, row in chunk],
        source=Activity.Source.CSV,
        actor=job.created_by,
        approve=job.approve,
        dry_run=dry_run,
        turn=turn,
    )
    counts = {IngestStatus.CREATED: 0, IngestStatus.DUPLICATE: 0, IngestStatus.ERROR: 0}
    errors = []
    for (number, _row), result in zip(chunk, results, strict=True):
        status = result.status
        if dry_run and status == IngestStatus.CREATED:
            # A dry run writes nothing, so a repeat in a later chunk is only known from this set.
            status = IngestStatus.DUPLICATE if result.external_id in seen else status
            seen.add(result.external_id)
        counts[status] += 1
        for field_name, messages in result.errors.items():
            errors.extend({"row": number, "field": field_name, "message": message} for message in messages)
    job.errors = (job.errors + errors)[:ERRORS_KEPT]
    job.processed_rows += len(chunk)
    job.created_count += counts[IngestStatus.CREATED]
    job.duplicate_count += counts[IngestStatus.DUPLICATE]
    job.error_count += counts[IngestStatus.ERROR]
    fields = ["errors", "processed_rows", "created_count", "duplicate_count", "error_count"]
    if dry_run and len(job.preview) < PREVIEW_ROWS:
        job.preview = [
            {"row": number, "cells": [row.get(column, "") for column in IMPORT_COLUMNS], "status": result.status}
            for (number, row), result in islice(zip(chunk, results, strict=True), PREVIEW_ROWS)
        ]
        fields.append("preview")
    ImportJob.objects.filter(pk=job.pk).update(**{name: getattr(job, name) for name in fields})
