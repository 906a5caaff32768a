"""Secret scrubbing: patterns, the registry of known values, and finding secrets in configs."""

from __future__ import annotations

import secrets

import pytest
from pydantic import BaseModel, SecretStr

from floe_ingestion_dlt.scrub import (
    MASK,
    is_secret_key,
    register_secrets,
    register_secrets_in,
    scrub_mapping,
    scrub_text,
)


def unique_secret() -> str:
    return f"S3cr{secrets.token_hex(8)}"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("postgresql://app:hunter2@db:5432/shop", "hunter2"),
        ("mysql+pymysql://u:p%40ss@h/db?x=1", "p%40ss"),
        ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
        ("headers={'Authorization': 'Basic dXNlcjpwdw=='}", "dXNlcjpwdw=="),
        ("password=opensesame host=db", "opensesame"),
        ('password="two words" host=db', "two words"),
        ("{'aws_secret_access_key': 'wJalrXUtnFEMI'}", "wJalrXUtnFEMI"),
        ('{"client_secret": "c-1234"}', "c-1234"),
        ("s3.secret-access-key=abcd1234 region=eu", "abcd1234"),
        ("api_key: k-998877", "k-998877"),
        ("refresh_token=rt_0099;", "rt_0099"),
    ],
)
def test_patterns_mask_secrets(text: str, secret: str) -> None:
    scrubbed = scrub_text(text)
    assert secret not in scrubbed
    assert MASK in scrubbed


def test_patterns_keep_ordinary_text() -> None:
    text = "loaded 10 rows into bronze.orders from https://api.example.com/v1/items?page=2"
    assert scrub_text(text) == text


def test_registered_secret_is_masked_anywhere_also_url_encoded() -> None:
    secret = unique_secret() + "/+&"
    register_secrets([secret])
    from urllib.parse import quote

    text = f"plain {secret} quoted {quote(secret, safe='')} inside{secret}word"
    scrubbed = scrub_text(text)
    assert secret not in scrubbed
    assert quote(secret, safe="") not in scrubbed
    assert scrubbed.count(MASK) == 3


def test_register_secrets_in_finds_keys_models_bearer_and_dsn_passwords() -> None:
    token, key, dsn_pw, model_pw = (unique_secret() for _ in range(4))

    class Creds(BaseModel):
        username: str
        password: SecretStr

    register_secrets_in(
        {
            "headers": {"Authorization": f"Bearer {token}"},
            "auth": [{"api_key": key}],
            "dsn": f"postgresql://app:{dsn_pw}@db/shop",
            "creds": Creds(username="app", password=SecretStr(model_pw)),
            "table": "orders",
        }
    )
    text = f"t={token} k {key} pw {dsn_pw} m {model_pw} table orders"
    scrubbed = scrub_text(text)
    for value in (token, key, dsn_pw, model_pw):
        assert value not in scrubbed
    assert "orders" in scrubbed


def test_scrub_mapping_masks_secret_keys_and_nested_values() -> None:
    data = {
        "password": "pw-1234",
        "nested": {"token": "tok-1234", "url": "https://u:pw9@h/x"},
        "count": 3,
    }
    out = scrub_mapping(data)
    assert out["password"] == MASK
    assert out["nested"]["token"] == MASK
    assert out["nested"]["url"] == f"https://u:{MASK}@h/x"
    assert out["count"] == 3


@pytest.mark.parametrize(
    "key", ["password", "db_password", "aws_secret_access_key", "Authorization", "api-key", "dsn"]
)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["table", "source_type", "rows_loaded", "pipeline_name"])
def test_ordinary_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_validation_messages_about_secret_fields_keep_their_words() -> None:
    from floe_ingestion_dlt.scrub import scrub_text as scrub

    assert scrub("source_config.credentials: unknown SQL dialect") == (
        "source_config.credentials: unknown SQL dialect"
    )
    assert scrub("sources[2].source_config.token: Field required").endswith("Field required")
    assert scrub("credentials.password: hunter22x") == "credentials.password: ***"
    assert scrub("token: abc123xyz") == "token: ***"
