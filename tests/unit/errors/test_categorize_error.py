"""categorize_error: one row per rule, with the exception objects the libraries really raise,
then the same rows wrapped the way dlt and exception chains wrap them."""

from __future__ import annotations

import socket
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pydantic
import pytest
import requests
import sqlalchemy.exc
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.common.destination.exceptions import (
    DestinationTerminalException,
    DestinationTransientException,
)
from dlt.common.exceptions import MissingDependencyException
from dlt.common.schema.exceptions import DataValidationError
from dlt.extract.exceptions import ResourceExtractionError, ResourcesNotFoundError
from dlt.load.exceptions import LoadClientJobRetry, LoadClientJobTerminalRetry
from dlt.pipeline.exceptions import PipelineStepFailed
from pyiceberg.exceptions import (
    BadRequestError,
    CommitFailedException,
    CommitStateUnknownException,
    ForbiddenError,
    NoSuchNamespaceError,
    NoSuchTableError,
    OAuthError,
    ServiceUnavailableError,
    UnauthorizedError,
)

from floe_ingestion_dlt.config import DltIngestionConfig
from floe_ingestion_dlt.destination.load_job import IcebergLoadTerminalError
from floe_ingestion_dlt.errors import (
    CATEGORY_RULES,
    ErrorCategory,
    PartialLoadError,
    PipelineConfigurationError,
    SchemaContractViolation,
    SourceConnectionError,
    ValidationError,
    categorize_error,
)
from tests.unit.errors.factories import http_error, raised, refused_port, s3_client_error

T, P, C, PA = (
    ErrorCategory.TRANSIENT,
    ErrorCategory.PERMANENT,
    ErrorCategory.CONFIGURATION,
    ErrorCategory.PARTIAL,
)


def _requests_refused() -> BaseException:
    port = refused_port()
    return raised(lambda: requests.get(f"http://127.0.0.1:{port}/x", timeout=2))


def _httpx_refused() -> BaseException:
    port = refused_port()
    return raised(lambda: httpx.get(f"http://127.0.0.1:{port}/x", timeout=2))


def _socket_refused() -> BaseException:
    port = refused_port()
    return raised(lambda: socket.create_connection(("127.0.0.1", port), timeout=2))


def _requests_reset() -> BaseException:
    from urllib3.exceptions import ProtocolError

    reset = ConnectionResetError(104, "Connection reset by peer")
    return requests.ConnectionError(ProtocolError("Connection aborted.", reset))


def _httpx_status(status: int) -> BaseException:
    request = httpx.Request("GET", "http://api.test/items")
    response = httpx.Response(status, request=request)
    return raised(response.raise_for_status)


def _pydantic_error() -> BaseException:
    return raised(lambda: DltIngestionConfig.model_validate({"connect_timeout_seconds": -1}))


def _db_operational(message: str) -> BaseException:
    """SQLAlchemy's OperationalError wrapping the driver's, as ``engine.connect()`` raises."""
    import psycopg2

    driver = psycopg2.OperationalError(message)
    wrapped = sqlalchemy.exc.OperationalError("SELECT 1", {}, driver)
    wrapped.__cause__ = driver
    return wrapped


def _pg_error(condition: str) -> BaseException:
    """A psycopg2 error class of the SQLSTATE condition, wrapped by SQLAlchemy."""
    import psycopg2.errors

    driver = getattr(psycopg2.errors, condition)(f"{condition} from server")
    wrapped = sqlalchemy.exc.DBAPIError("SELECT 1", {}, driver)
    wrapped.__cause__ = driver
    return wrapped


def _psycopg2_refused() -> BaseException:
    import psycopg2

    port = refused_port()
    return raised(
        lambda: psycopg2.connect(
            host="127.0.0.1", port=port, user="u", password="p", connect_timeout=2
        )
    )


def _contract_violation() -> BaseException:
    return DataValidationError(
        "schema", "orders", "new_col", "columns", "freeze", None, {"columns": "freeze"}
    )


def _missing_package() -> BaseException:
    return raised(lambda: __import__("definitely_not_installed_pkg_floe"))


def _dlt_config_missing() -> BaseException:
    """What dlt raises when a required config value (a secret, a URL) is found nowhere."""
    from dlt.common.configuration import configspec, resolve_configuration
    from dlt.common.configuration.specs import BaseConfiguration

    @configspec
    class NeedsEndpoint(BaseConfiguration):
        floe_unit_endpoint_never_set: str = None  # type: ignore[assignment]

    exc = raised(lambda: resolve_configuration(NeedsEndpoint()))
    assert isinstance(exc, ConfigFieldMissingException)
    return exc


def _partial_step(dlt_pipeline: Any, cause: BaseException) -> BaseException:
    """dlt's load step failure where table ``a`` committed and table ``b`` did not."""

    def job(table: str, message: str | None = None) -> Any:
        info = SimpleNamespace(table_name=table, file_format="reference")
        return SimpleNamespace(job_file_info=info, failed_message=message)

    package = SimpleNamespace(
        load_id="1.5",
        jobs={
            "completed_jobs": [job("a"), job("_dlt_pipeline_state")],
            "new_jobs": [job("b", "Traceback ... boom")],
            "failed_jobs": [],
            "started_jobs": [],
        },
    )
    step_info = SimpleNamespace(load_packages=[package], loads_ids=["1.5"])
    job_error = LoadClientJobTerminalRetry("1.5", "b.x.reference", "boom", cause)
    return PipelineStepFailed(dlt_pipeline, "load", "1.5", job_error, step_info)  # type: ignore[arg-type]


def _unpartial_step(dlt_pipeline: Any, cause: BaseException) -> BaseException:
    """The same failure where only dlt's bookkeeping and per-file jobs completed."""
    info = SimpleNamespace(table_name="b", file_format="parquet")
    package = SimpleNamespace(
        load_id="1.5",
        jobs={"completed_jobs": [SimpleNamespace(job_file_info=info, failed_message=None)]},
    )
    step_info = SimpleNamespace(load_packages=[package], loads_ids=["1.5"])
    job_error = LoadClientJobTerminalRetry("1.5", "b.x.reference", "boom", cause)
    return PipelineStepFailed(dlt_pipeline, "load", "1.5", job_error, step_info)  # type: ignore[arg-type]


# One row per rule: (id, factory, expected). Factories return a fresh exception.
RULES: list[tuple[str, Callable[[], BaseException], ErrorCategory]] = [
    # ---- TRANSIENT
    ("http-429", lambda: http_error(429, {"Retry-After": "2"}), T),
    ("http-502", lambda: http_error(502), T),
    ("http-503", lambda: http_error(503), T),
    ("http-504", lambda: http_error(504), T),
    ("httpx-503", lambda: _httpx_status(503), T),
    ("requests-read-timeout", lambda: requests.ReadTimeout("read timed out"), T),
    ("requests-connect-timeout", lambda: requests.ConnectTimeout("connect timed out"), T),
    ("builtin-timeout", lambda: TimeoutError("timed out"), T),
    ("socket-timeout", lambda: TimeoutError("timed out"), T),
    ("httpx-read-timeout", lambda: httpx.ReadTimeout("timed out"), T),
    ("connection-refused-socket", _socket_refused, T),
    ("connection-refused-requests", _requests_refused, T),
    ("connection-refused-httpx", _httpx_refused, T),
    ("connection-refused-postgres", _psycopg2_refused, T),
    ("connection-reset", lambda: ConnectionResetError(104, "Connection reset by peer"), T),
    ("connection-reset-requests", _requests_reset, T),
    ("dns-failure", lambda: socket.gaierror(-2, "Name or service not known"), T),
    (
        "dns-failure-temporary",
        lambda: socket.gaierror(-3, "Temporary failure in name resolution"),
        T,
    ),
    ("iceberg-commit-conflict", lambda: CommitFailedException("branch main has changed"), T),
    ("iceberg-commit-unknown", lambda: CommitStateUnknownException("gateway timeout"), T),
    ("iceberg-catalog-unavailable", lambda: ServiceUnavailableError("503"), T),
    ("s3-slowdown", lambda: s3_client_error("SlowDown", 503), T),
    ("s3-503", lambda: s3_client_error("ServiceUnavailable", 503), T),
    ("pg-serialization-failure", lambda: _pg_error("SerializationFailure"), T),
    ("db-connection-lost", lambda: _db_operational("server closed the connection unexpectedly"), T),
    ("dlt-transient", lambda: DestinationTransientException("try again"), T),
    ("message-says-timed-out", lambda: RuntimeError("upstream timed out after 30s"), T),
    ("typed-source-connection", lambda: SourceConnectionError("db:5432 not reachable"), T),
    # ---- PERMANENT
    ("http-401", lambda: http_error(401), P),
    ("http-403", lambda: http_error(403), P),
    ("httpx-401", lambda: _httpx_status(401), P),
    ("iceberg-401", lambda: UnauthorizedError("not authorized"), P),
    ("iceberg-403", lambda: ForbiddenError("forbidden"), P),
    ("iceberg-oauth-refused", lambda: OAuthError("invalid_client"), P),
    ("s3-access-denied", lambda: s3_client_error("AccessDenied", 403), P),
    (
        "db-password-refused",
        lambda: _db_operational('FATAL:  password authentication failed for user "app"'),
        P,
    ),
    ("pg-undefined-table", lambda: _pg_error("UndefinedTable"), P),
    ("pg-invalid-password", lambda: _pg_error("InvalidPassword"), P),
    ("schema-contract-typed", lambda: SchemaContractViolation("column x is new"), P),
    ("schema-contract-dlt", _contract_violation, P),
    ("missing-iceberg-table", lambda: NoSuchTableError("bronze.orders"), P),
    ("missing-iceberg-namespace", lambda: NoSuchNamespaceError("bronze"), P),
    ("missing-sql-table", lambda: sqlalchemy.exc.NoSuchTableError("orders"), P),
    ("missing-resource", lambda: ResourcesNotFoundError("src", {"a"}, {"b"}), P),
    ("dlt-terminal", lambda: DestinationTerminalException("bad"), P),
    ("unknown-error", lambda: RuntimeError("something odd"), P),
    ("value-error-mentioning-timeout", lambda: ValueError("timeout must be positive"), P),
    (
        "typed-permanent-connection",
        lambda: SourceConnectionError("refused credentials", category=P),
        P,
    ),
    # ---- PARTIAL
    ("partial-typed", lambda: PartialLoadError("table b failed, table a committed"), PA),
    # ---- CONFIGURATION
    ("http-400", lambda: http_error(400), C),
    ("http-404", lambda: http_error(404), C),
    ("iceberg-400", lambda: BadRequestError("bad location"), C),
    ("s3-no-such-bucket", lambda: s3_client_error("NoSuchBucket", 404), C),
    ("db-missing-database", lambda: _db_operational('FATAL:  database "shop" does not exist'), C),
    ("pydantic-invalid-config", _pydantic_error, C),
    ("typed-validation", lambda: ValidationError("source_type: bad", field="source_type"), C),
    ("typed-pipeline-config", lambda: PipelineConfigurationError("pip install psycopg2"), C),
    ("missing-package", _missing_package, C),
    (
        "dlt-missing-dependency",
        lambda: MissingDependencyException("sql_database", ["sqlalchemy"]),
        C,
    ),
    ("dlt-config-missing", _dlt_config_missing, C),
]


@pytest.mark.parametrize(("factory", "expected"), [pytest.param(f, e, id=i) for i, f, e in RULES])
def test_rule(factory: Callable[[], BaseException], expected: ErrorCategory) -> None:
    assert categorize_error(factory()) is expected


def _wrappers(dlt_pipeline: Any) -> dict[str, Callable[[BaseException], BaseException]]:
    def raise_from(exc: BaseException) -> BaseException:
        def outer() -> None:
            raise RuntimeError("run failed") from exc

        return raised(outer)

    def extract_step(exc: BaseException) -> BaseException:
        extraction = ResourceExtractionError("items", None, str(exc), "generator")
        extraction.__cause__ = exc
        return PipelineStepFailed(dlt_pipeline, "extract", None, extraction)  # type: ignore[arg-type]

    def load_step_retry(exc: BaseException) -> BaseException:
        job = LoadClientJobRetry("1.2", "t.ref", 5, 5, "failed", exc)
        return PipelineStepFailed(dlt_pipeline, "load", "1.2", job)  # type: ignore[arg-type]

    def load_step_terminal(exc: BaseException) -> BaseException:
        job = LoadClientJobTerminalRetry("1.2", "t.ref", "failed", exc)
        return PipelineStepFailed(dlt_pipeline, "load", "1.2", job)  # type: ignore[arg-type]

    def transient_wrapper_of(exc: BaseException) -> BaseException:
        # dlt's transient job wrapper must not override what the cause says
        wrapper = DestinationTransientException("job failed")
        wrapper.__cause__ = exc
        return wrapper

    return {
        "raise-from": raise_from,
        "pipeline-step-extract": extract_step,
        "pipeline-step-load-retry": load_step_retry,
        "pipeline-step-load-terminal": load_step_terminal,
        "transient-wrapper": transient_wrapper_of,
    }


WRAPPER_NAMES = [
    "raise-from",
    "pipeline-step-extract",
    "pipeline-step-load-retry",
    "pipeline-step-load-terminal",
    "transient-wrapper",
]


@pytest.mark.parametrize("wrapper", WRAPPER_NAMES)
@pytest.mark.parametrize(
    ("factory", "expected"),
    [pytest.param(f, e, id=i) for i, f, e in RULES if i != "unknown-error"],
)
def test_rule_through_wrappers(
    dlt_pipeline: Any,
    wrapper: str,
    factory: Callable[[], BaseException],
    expected: ErrorCategory,
) -> None:
    """The real cause decides, however dlt or the caller wrapped it."""
    wrapped = _wrappers(dlt_pipeline)[wrapper](factory())
    assert categorize_error(wrapped) is expected


def test_typed_error_inside_dlt_terminal_job_wrapper(dlt_pipeline: Any) -> None:
    violation = SchemaContractViolation("column x not in frozen table")
    terminal = IcebergLoadTerminalError(violation)
    terminal.__cause__ = violation
    job = LoadClientJobTerminalRetry("1.2", "t.ref", "failed", terminal)
    step = PipelineStepFailed(dlt_pipeline, "load", "1.2", job)  # type: ignore[arg-type]
    assert categorize_error(step) is P


def test_partial_when_a_table_committed_and_another_failed(dlt_pipeline: Any) -> None:
    step = _partial_step(dlt_pipeline, SchemaContractViolation("b does not fit"))
    assert categorize_error(step) is PA


def test_partial_package_with_transient_cause_stays_transient(dlt_pipeline: Any) -> None:
    """A retry commits the missing table; the committed one is skipped by its load id."""
    step = _partial_step(dlt_pipeline, CommitFailedException("conflict"))
    assert categorize_error(step) is T


def test_not_partial_when_only_bookkeeping_and_file_jobs_completed(dlt_pipeline: Any) -> None:
    step = _unpartial_step(dlt_pipeline, SchemaContractViolation("b does not fit"))
    assert categorize_error(step) is P


def test_explicit_cause_outranks_the_exception_being_handled() -> None:
    """A 401 raised while handling a reset is PERMANENT, not TRANSIENT."""

    def fail() -> None:
        try:
            raise ConnectionResetError(104, "reset")
        except ConnectionResetError:
            raise http_error(401) from None

    assert categorize_error(raised(fail)) is P

    def fail_with_context() -> None:
        try:
            raise ConnectionResetError(104, "reset")
        except ConnectionResetError:
            raise http_error(403)  # noqa: B904 - the implicit context is the point

    assert categorize_error(raised(fail_with_context)) is P


def test_context_is_used_when_nothing_explicit_speaks() -> None:
    def fail() -> None:
        try:
            raise TimeoutError("read timed out")
        except TimeoutError:
            raise RuntimeError("fetch failed")  # noqa: B904

    assert categorize_error(raised(fail)) is T


def test_suppressed_context_is_ignored() -> None:
    def fail() -> None:
        try:
            raise TimeoutError("read timed out")
        except TimeoutError:
            raise RuntimeError("fetch failed") from None

    assert categorize_error(raised(fail)) is P


def test_cyclic_chain_terminates() -> None:
    first, second = RuntimeError("a"), RuntimeError("b")
    first.__cause__, second.__cause__ = second, first
    assert categorize_error(first) is P


def test_every_rule_is_named_and_exercised() -> None:
    """Each rule of the table fires for at least one row above."""
    from floe_ingestion_dlt.errors import exception_chain

    fired: set[str] = set()
    for _, factory, _ in RULES:
        for candidate in exception_chain(factory()):
            for rule in CATEGORY_RULES:
                if rule.match(candidate) is not None:
                    fired.add(rule.name)
                    break
    assert {rule.name for rule in CATEGORY_RULES} <= fired
    assert all(rule.name for rule in CATEGORY_RULES)


def test_pydantic_error_is_categorized_as_configuration() -> None:
    exc = _pydantic_error()
    assert isinstance(exc, pydantic.ValidationError)
    assert categorize_error(exc) is C
