"""Property-based API testing with schemathesis: whatever the published OpenAPI schema allows
(positive cases) and much it does not (negative cases), the server never answers with a 5xx.

schemathesis' lazy pytest integration (`from_fixture`) does not run under the pinned pytest,
so the cases of each operation are generated through its Hypothesis strategies directly.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error

from pingserver.store import ProjectKeys
from tests.conftest import PingServer
from tests.support.api import Api

EXAMPLES = 30


def strategies(operation: schemathesis.APIOperation,
               known: dict[str, str]) -> list[st.SearchStrategy[schemathesis.Case]]:
    """Positive and negative cases; where the path names an object, aimed at one that exists,
    since random ids alone would only ever meet 404s."""
    modes = schemathesis.GenerationMode
    fixed = {name: value for name, value in known.items() if f"{{{name}}}" in operation.path}
    return [operation.as_strategy(mode, path_parameters=fixed or None)
            for mode in (modes.POSITIVE, modes.NEGATIVE)]


def exercise(strategy: st.SearchStrategy[schemathesis.Case], base_url: str, key: str) -> None:
    @given(case=strategy)
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, headers={"X-Api-Key": key}, timeout=10)
        case.validate_response(response, checks=[not_a_server_error])

    run()


def test_no_server_errors(pingserver: PingServer, keys: ProjectKeys) -> None:
    api = Api(pingserver.url, keys.api_key)
    known = {"ident": api.create(name="fuzzed", channels="")["uuid"],
             "cid": api.channel(name="fuzzed")["id"], "n": "1"}
    schema = schemathesis.openapi.from_url(f"{pingserver.url}/openapi.json", timeout=10)
    # An Err here means a broken schema; deletes go last so the known objects live long.
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    operations.sort(key=lambda op: op.method == "delete")
    assert len(operations) >= 40, "the schema lost operations"
    failures: list[str] = []
    for operation in operations:
        for strategy in strategies(operation, known):
            try:
                exercise(strategy, pingserver.url, keys.api_key)
            except Unsatisfiable:  # nothing to get wrong: no negative case exists
                continue
            except Exception as exc:  # collect every operation's failure, report them all
                failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
