"""A CSV import's chunks in several streams (PostgreSQL): the same outcome as one stream running them in order.

Two tenants run the same program and import the same file in chunks of 6 rows: one in two streams, the other in
one. The file repeats external ids across chunks (a good repeat, a bad row repeating a stored id, a good row after a
bad first one) and crosses monthly caps from chunk to chunk; the first chunk is held back so that the second
stream would overtake it if nothing kept them in order.
"""

import threading
import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from imports import services as import_services
from imports.ingest import IngestTurn
from imports.services import import_job_create, import_job_run
from loyalty.ledger.selectors import ledger_verify
from loyalty.tenancy.context import tenant_context
from partners.models import Activity, ImportJob
from tests.conftest import World
from tests.partners.test_ingest import ledger_of, program
from tests.partners.test_ingest_copy import activities_of, comparable

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="streams need PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]

CHUNK = 6
HEADER = "partner,external_id,kind,occurred_at,amount,currency,quantity,product_category"


NOW = timezone.now().replace(microsecond=0)


def file_rows(world: World, other_partner: str) -> list[str]:
    """30 rows (5 chunks of 6) with repeats and caps across chunks; row numbers in the file are index + 2."""
    now = NOW
    lines = []
    for n in range(30):
        partner = world.partner.external_id if n % 3 else other_partner
        moment = (now - timedelta(days=31 * (n % 2), hours=n)).isoformat()
        category = "switches" if n % 4 == 0 else "routers"
        lines.append(f"{partner},S-{n:02d},sale,{moment},{100 + 37 * n}.50,USD,{1 + n % 3},{category}")
    stored_id = lines[2].split(",")[1]
    lines[8] = lines[8].replace("S-08", stored_id).replace(",396.", ",999.")  # a good repeat of chunk 0's row
    lines[14] = lines[14].replace("S-14", "S-03").replace(".50,USD", ".5x,USD")  # a bad row repeating a stored id
    lines[20] = lines[20].replace(".50,USD", ".5x,USD").replace("S-20", "S-LATE")  # bad first row of an id …
    lines[26] = lines[26].replace("S-26", "S-LATE")  # … and its good repeat, three chunks later
    return lines


def job_of(world: World, lines: list[str]) -> ImportJob:
    content = ("\r\n".join([HEADER, *lines]) + "\r\n").encode()
    with tenant_context(world.tenant):
        job = import_job_create(file=SimpleUploadedFile("a.csv", content, content_type="text/csv"), actor=world.manager)
        assert job.status == ImportJob.Status.VALIDATED
        ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.IMPORTING)
    return job


def import_run(world: World, job: ImportJob) -> ImportJob:
    with tenant_context(world.tenant):
        try:
            import_job_run(job_id=job.pk, phase=ImportJob.Status.IMPORTING)
        finally:
            job.refresh_from_db()
    return job


def outcome(world: World, job: ImportJob) -> tuple:
    with tenant_context(world.tenant):
        assert ledger_verify().breaches == []
    counts = (job.status, job.processed_rows, job.created_count, job.duplicate_count, job.error_count)
    ledger = ledger_of(world)  # each tenant's actor differs by the email's domain only
    return counts, job.errors, activities_of(world), comparable(ledger["entries"]), ledger["lots"], ledger["accounts"]


@pytest.fixture
def chunks_of_six(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_services, "CHUNK_ROWS", CHUNK)


class PassedTurn:
    """A chunk's turn passed on, for a test to step in before its posting."""

    def __init__(self, turn: IngestTurn) -> None:
        self.turn = turn

    def before_insert(self, external_ids: set[str]) -> None:
        self.turn.before_insert(external_ids)

    def before_posting(self) -> None:
        self.turn.before_posting()


def held_back(
    monkeypatch: pytest.MonkeyPatch, *, first_id: str = "", at_start: bool = False, effect: float | Exception = 0.0
) -> set[int]:
    """Hold back the chunk whose first external id is `first_id`, before it starts or once it has inserted its
    activities (before its turn to post): `effect` seconds, or raise `effect` after a moment. Returns the set of
    threads that ran chunks."""
    ingest = import_services.activities_ingest
    threads = set()

    def hold() -> None:
        time.sleep(0.3 if isinstance(effect, Exception) else effect)
        if isinstance(effect, Exception):
            raise effect

    class HeldTurn(PassedTurn):
        def before_posting(self) -> None:
            hold()
            self.turn.before_posting()

    def held(**options):  # noqa: ANN003, ANN202
        threads.add(threading.get_ident())
        if options["rows"][0]["external_id"] == first_id:
            if at_start:
                hold()
            elif options["turn"] is not None:
                options["turn"] = HeldTurn(options["turn"])
        return ingest(**options)

    monkeypatch.setattr(import_services, "activities_ingest", held)
    return threads


@pytest.mark.parametrize(
    ("first_id", "at_start"),
    [
        # The first chunk starts late: the second, which repeats one of its ids, must not insert before it commits.
        ("S-00", True),
        # The second chunk waits after inserting: the third, which shares no id with it, must not post before it.
        ("S-06", False),
    ],
)
def test_two_streams_import_as_one_does(
    acme: World, globex: World, settings, monkeypatch: pytest.MonkeyPatch, chunks_of_six, first_id, at_start
) -> None:
    outcomes = {}
    for world, streams in ((globex, 1), (acme, 2)):
        other = program(world)
        settings.IMPORT_STREAMS = streams
        job = job_of(world, file_rows(world, other.external_id))
        threads = held_back(monkeypatch, first_id=first_id, at_start=at_start, effect=0.5)
        job = import_run(world, job)
        assert len(threads) == streams
        outcomes[streams] = outcome(world, job)
    assert outcomes[2] == outcomes[1]
    counts, errors, *_rest = outcomes[2]
    assert counts == (ImportJob.Status.DONE, 30, 27, 2, 1)
    assert [(error["row"], error["field"]) for error in errors] == [(22, "amount")]


def test_a_failed_chunk_stops_the_import_after_the_chunks_before_it_and_the_import_resumes(
    acme: World, globex: World, settings, monkeypatch: pytest.MonkeyPatch, chunks_of_six
) -> None:
    others = {world.tenant.pk: program(world).external_id for world in (acme, globex)}
    settings.IMPORT_STREAMS = 1
    whole = import_run(globex, job_of(globex, file_rows(globex, others[globex.tenant.pk])))

    settings.IMPORT_STREAMS = 2
    # The second chunk fails after the third has inserted its rows and waits to post: the third is abandoned.
    job = job_of(acme, file_rows(acme, others[acme.tenant.pk]))
    held_back(monkeypatch, first_id="S-06", effect=RuntimeError("The disk is full."))
    with pytest.raises(RuntimeError, match="The disk is full."):
        import_run(acme, job)
    assert (job.status, job.failure, job.processed_rows, job.created_count) == ("failed", "The disk is full.", 6, 6)
    with tenant_context(acme.tenant):
        assert sorted(Activity.objects.values_list("external_id", flat=True)) == [f"S-0{n}" for n in range(6)]
        assert ledger_verify().breaches == []

    monkeypatch.undo()
    monkeypatch.setattr(import_services, "CHUNK_ROWS", CHUNK)
    threads = held_back(monkeypatch)
    with tenant_context(acme.tenant):
        ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.IMPORTING)  # as import_job_commit does
    resumed = import_run(acme, job)
    assert len(threads) == 2
    assert outcome(acme, resumed) == outcome(globex, whole)


def test_a_chunk_checks_its_activities_keys_before_its_turn(
    acme: World, settings, monkeypatch: pytest.MonkeyPatch, chunks_of_six
) -> None:
    """A chunk's activities and status changes have their foreign keys checked at their statement, before the
    chunk's turn, not at its commit in the turn (the streams' serial path; bench/README.md). Seen from the turn: a
    status change naming no activity is refused at once, where a deferred check would wait for the commit."""
    other = program(acme)
    settings.IMPORT_STREAMS = 2
    job = job_of(acme, file_rows(acme, other.external_id))
    ingest = import_services.activities_ingest
    refused_at_once = []

    class ProbingTurn(PassedTurn):
        def before_posting(self) -> None:
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(
                        "INSERT INTO partners_activitystatuschange (tenant_id, activity_id, from_status, to_status,"
                        " reason, reason_code, reason_params, created_at)"
                        " VALUES (%s, -1, '', 'approved', '', '', '{}', now())",
                        [acme.tenant.pk],
                    )
                    refused_at_once.append(False)
                    raise _Undone
            except IntegrityError:
                refused_at_once.append(True)
            except _Undone:
                pass
            self.turn.before_posting()

    def probed(**options):  # noqa: ANN003, ANN202
        options["turn"] = ProbingTurn(options["turn"])
        return ingest(**options)

    monkeypatch.setattr(import_services, "activities_ingest", probed)
    job = import_run(acme, job)
    assert refused_at_once == [True] * 5
    counts, *_rest = outcome(acme, job)
    assert counts == (ImportJob.Status.DONE, 30, 27, 2, 1)


class _Undone(Exception):
    """Rolls the probe's savepoint back when the database accepted its row (its check deferred)."""
