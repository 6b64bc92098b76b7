"""OpenAPI is the truth: schemathesis fuzzes every operation of the live API, signing each
request, and finds no 5xx and no response that breaks the document.

Bounded: MAX_EXAMPLES per operation and phase (`PIPAI_FUZZ_EXAMPLES`, 40 by default;
`make fuzz` runs 1,000), and as many stateful scenarios, which follow the document's
OpenAPI links (create -> get, events, cancel, result, trades, equity, labels; a sweep's
likewise) with the ids the API really answered. The stack gets a large weight budget
so fuzzing measures conformance, not the rate limit (tested in tests/api).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi import checks

from api.app import create_app
from cli.stack import demo_key
from pipai.settings import Settings
from pipai.signing import API_KEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.integration.conftest import LiveStack
from tests.integration.signed_stack import base_url, signed_settings, start_signed_stack

pytestmark = pytest.mark.integration
MAX_EXAMPLES = int(os.environ.get("PIPAI_FUZZ_EXAMPLES", "40"))
# Two checks do not fit a signed API with semantic validation:
# - ignored_auth: schemathesis fills the signing headers with random values and expects
#   401, but `signer` replaces them with a valid signature. Refusing bad signatures is
#   what tests/api/test_security.py and test_api_security.py check, code by code.
# - positive_data_acceptance: schema-valid is not always valid: an opaque cursor must be
#   one we issued, template params are checked against the template's own schema, and
#   the seed pages answer those with 400 INVALID_PARAMETER.
EXCLUDED = [checks.ignored_auth, checks.positive_data_acceptance]


class SignRequests(requests.auth.AuthBase):
    """PipaiAuth for `requests` (what schemathesis sends with): signs the prepared bytes."""

    def __init__(self, api_key: str, secret: str) -> None:
        self.api_key, self._secret = api_key, secret
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if not all(h in r.headers for h in (API_KEY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)):
            return r  # a negative case without a signing header: send it unsigned, expect 401
        body = r.body or b""
        body = body.encode() if isinstance(body, str) else body
        with self._lock:
            self._last = max(int(time.time() * 1000), self._last + 1)
            ts = str(self._last)
        r.headers[API_KEY_HEADER] = self.api_key
        r.headers[TIMESTAMP_HEADER] = ts
        r.headers[SIGNATURE_HEADER] = sign(self._secret, ts, r.method or "GET", r.path_url, body)
        return r


@pytest.fixture(scope="module")
def fuzzed(kafka_bootstrap: str, market_dir: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    settings_ = signed_settings(tmp_path_factory.mktemp("fuzz"), kafka_bootstrap, market_dir,
                                api_weight_per_minute=10_000_000)
    yield from start_signed_stack(settings_)


@pytest.fixture(scope="module")
def signer(fuzzed: LiveStack) -> SignRequests:
    key = demo_key(fuzzed.settings)
    return SignRequests(key.api_key, key.secret)


# The document is built from the code at import (the lazy fixture loader does not run on
# pytest 9); test_served_document_is_the_fuzzed_one checks the live API serves this very one.
DOCUMENT = create_app(Settings(data_dir=Path(tempfile.mkdtemp(prefix="pipai-openapi-")))).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)


def test_served_document_is_the_fuzzed_one(fuzzed: LiveStack) -> None:
    served = requests.get(base_url(fuzzed.settings) + "/openapi.json", timeout=10).json()
    assert served == DOCUMENT


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi(case: schemathesis.Case, signer: SignRequests,
                                     fuzzed: LiveStack) -> None:
    response = case.call(base_url=base_url(fuzzed.settings), auth=signer, timeout=30)
    assert response.status_code < 500, response.text
    case.validate_response(response, excluded_checks=EXCLUDED)


def test_linked_calls_conform_too(signer: SignRequests, fuzzed: LiveStack) -> None:
    """Stateful: scenarios of linked calls on resources the API created."""
    url = base_url(fuzzed.settings)
    links = sum(len(r.get("links", {})) for ops in DOCUMENT["paths"].values()
                for op in ops.values() for r in op["responses"].values())
    assert links >= 12  # create job and create sweep link to what takes their ids

    class Signed(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, object]:
            return {"base_url": url, "auth": signer, "timeout": 30}

        def validate_response(self, response: object, case: schemathesis.Case,
                              additional_checks: object = None, **kwargs: object) -> None:
            assert getattr(response, "status_code", 0) < 500, getattr(response, "text", "")
            case.validate_response(response, excluded_checks=EXCLUDED)

    Signed.run(settings=settings(max_examples=MAX_EXAMPLES, deadline=None,
                                 stateful_step_count=6,
                                 suppress_health_check=list(HealthCheck)))
