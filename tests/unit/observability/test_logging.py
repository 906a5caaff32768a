"""Structured logs: JSON and console output, levels from the environment, scrubbing everywhere."""

from __future__ import annotations

import io
import json
import logging
import secrets

import pytest
import structlog

from floe_ingestion_dlt.logging import (
    ENV_LOG_FORMAT,
    ENV_LOG_LEVEL,
    configure_logging,
    configure_logging_from_env,
    get_logger,
    install_stdlib_scrubbing,
    log_context,
)
from floe_ingestion_dlt.scrub import register_secrets


def json_lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def new_secret() -> str:
    value = f"Sx{secrets.token_hex(10)}"
    register_secrets([value])
    return value


def test_json_output_carries_fields_level_time_and_logger() -> None:
    buffer = io.StringIO()
    configure_logging(level="INFO", json=True, stream=buffer)
    get_logger("floe.test").info("extract finished", rows_extracted=3, pipeline_name="p1")
    [event] = json_lines(buffer)
    assert event["event"] == "extract finished"
    assert event["rows_extracted"] == 3
    assert event["pipeline_name"] == "p1"
    assert event["level"] == "info"
    assert event["logger"] == "floe.test"
    assert event["timestamp"].endswith("Z")


def test_console_output_is_one_readable_line() -> None:
    buffer = io.StringIO()
    configure_logging(level="INFO", json=False, stream=buffer)
    get_logger("floe.test").warning("retrying", attempt=2)
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 1
    assert "retrying" in lines[0]
    assert "attempt=2" in lines[0]
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[0])


def test_environment_sets_format_and_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_LOG_FORMAT, "json")
    monkeypatch.setenv(ENV_LOG_LEVEL, "warning")
    buffer = io.StringIO()
    configure_logging(stream=buffer)
    log = get_logger("floe.test")
    log.info("not shown")
    log.warning("shown", n=1)
    assert [e["event"] for e in json_lines(buffer)] == ["shown"]


def test_configure_from_env_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(ENV_LOG_FORMAT, raising=False)
    monkeypatch.delenv(ENV_LOG_LEVEL, raising=False)
    before = structlog.get_config()["processors"]
    assert configure_logging_from_env() is False
    assert structlog.get_config()["processors"] is before

    monkeypatch.setenv(ENV_LOG_FORMAT, "JSON")
    assert configure_logging_from_env() is True
    get_logger("floe.test").info("from env")
    event = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert event["event"] == "from env"


def test_bad_level_names_the_variable_value() -> None:
    with pytest.raises(ValueError, match="LOUD"):
        configure_logging(level="LOUD")


def test_events_are_scrubbed_even_under_a_foreign_structlog_configuration() -> None:
    """The platform may configure structlog without our processor: plugin events stay clean."""
    secret = new_secret()
    captured: list[dict] = []

    def keep(_: object, __: str, event_dict: dict) -> str:
        captured.append(dict(event_dict))
        return ""

    structlog.configure(processors=[keep], logger_factory=structlog.ReturnLoggerFactory())
    log = get_logger("floe.test").bind(dsn=f"postgresql://u:{secret}@h/db")
    log.info(f"connecting with {secret}", password=secret, headers={"Authorization": "Bearer x1"})
    [event] = captured
    assert secret not in repr(event)
    assert event["password"] == "***"
    assert event["headers"]["Authorization"] == "***"


def test_other_structlog_loggers_are_scrubbed_by_the_processor() -> None:
    secret = new_secret()
    buffer = io.StringIO()
    configure_logging(level="DEBUG", json=True, stream=buffer)
    structlog.get_logger("someone.else").debug("token used", token=secret, note=f"x {secret}")
    assert secret not in buffer.getvalue()
    assert json_lines(buffer)[0]["token"] == "***"


def test_exception_tracebacks_are_scrubbed() -> None:
    secret = new_secret()
    buffer = io.StringIO()
    configure_logging(level="INFO", json=True, stream=buffer)
    try:
        raise ConnectionError(f"login failed for {secret}")
    except ConnectionError:
        get_logger("floe.test").exception("run failed")
    [event] = json_lines(buffer)
    assert event["level"] == "error"
    assert "ConnectionError: login failed for ***" in event["exception"]
    assert secret not in buffer.getvalue()


def test_log_context_adds_fields_until_the_block_ends() -> None:
    buffer = io.StringIO()
    configure_logging(level="INFO", json=True, stream=buffer)
    log = get_logger("floe.test")
    with log_context(pipeline_name="p1", load_id="123.4"):
        log.info("inside")
        with log_context(load_id="567.8"):
            log.info("nested")
    log.info("outside")
    inside, nested, outside = json_lines(buffer)
    assert (inside["pipeline_name"], inside["load_id"]) == ("p1", "123.4")
    assert (nested["pipeline_name"], nested["load_id"]) == ("p1", "567.8")
    assert "pipeline_name" not in outside


def test_dlt_stdlib_records_are_scrubbed_at_debug_by_late_handlers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """dlt logs through the stdlib logger ``dlt`` (propagate off, its own handler)."""
    secret = new_secret()
    install_stdlib_scrubbing()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)  # added after the scrubbing was installed
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    dlt_logger = logging.getLogger("dlt")
    old_level = dlt_logger.level
    dlt_logger.addHandler(handler)
    dlt_logger.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        dlt_logger.debug("resolved credentials %s", {"aws_secret_access_key": secret})
        dlt_logger.debug(f"raw secret {secret} in an f-string")
        try:
            raise RuntimeError(f"boom {secret}")
        except RuntimeError:
            dlt_logger.exception("job failed")
        logging.getLogger("pyiceberg.io.pyarrow").debug("token %s", secret)
    finally:
        dlt_logger.removeHandler(handler)
        dlt_logger.setLevel(old_level)
    output = stream.getvalue()
    assert output.count("DEBUG dlt") == 2
    assert "RuntimeError: boom ***" in output
    assert secret not in output
    assert secret not in caplog.text
    assert "token ***" in caplog.text


def test_installing_twice_wraps_the_factory_once() -> None:
    install_stdlib_scrubbing()
    factory = logging.getLogRecordFactory()
    install_stdlib_scrubbing()
    assert logging.getLogRecordFactory() is factory
