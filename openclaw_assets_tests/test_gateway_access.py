"""Who may call the gateway: tokens kept as digests, roles decided by the ``gateway_request`` policy,
rotation without a restart, refusals in the ledger, the auditor's routes, and no token in any log.

The first half needs no process: the token sources themselves. The second half runs one real
gateway on a fresh home (no model: scoring answers 503 once a request is let through, which is
all these tests need), as a child of the test process, stopped by process group.
"""

from __future__ import annotations

import contextlib
import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from openclaw_assets.compute.gateway import auth, server
from openclaw_assets.compute.gateway.auth import ROLES, TokenError, Tokens, digest_of, issue_token, revoke
from openclaw_assets_tests.waiting import wait_until

READY_SECONDS = 120
ROTATION_SECONDS = 10  # the store is looked at once a second; generous for a loaded machine
FLIGHT = {
    "flight_id": "UA1545-2013-02-20",
    "carrier": "UA",
    "origin": "EWR",
    "dest": "IAH",
    "scheduled_departure": "2013-02-20T05:15:00",
    "distance": 1400,
}
BLANK = {f"OPENCLAW_GATEWAY_{role.upper()}_TOKEN{suffix}": "" for role in ROLES for suffix in ("", "_FILE")}
"""Empty values blank any token the test process's environment might carry: the store decides."""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the token sources ---------------------------------------------------------------------------------


def test_the_first_start_issues_a_token_per_role_and_keeps_only_their_digests(tmp_path: Path):
    home = tmp_path / "home"
    tokens = Tokens.load(home, environ={})
    store = auth.token_store(home).read_text()
    issued = {role: auth.default_token_file(home, role).read_text().strip() for role in ROLES}
    for role, token in issued.items():
        copy = auth.default_token_file(home, role)
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        assert len(token) >= 40 and token not in store
        assert f"{role} {digest_of(token)} " in store
        assert tokens.role_of(f"Bearer {token}") == role
    assert stat.S_IMODE(auth.token_store(home).stat().st_mode) == 0o600
    assert stat.S_IMODE(auth.secrets_dir(home).stat().st_mode) == 0o700
    assert tokens.role_of(None) is None and tokens.role_of("Basic " + issued["admin"]) is None
    assert tokens.role_of("Bearer " + issued["admin"][:-1]) is None
    # a second start issues nothing new
    Tokens.load(home, environ={})
    assert auth.token_store(home).read_text() == store


def test_a_home_from_before_the_store_keeps_its_tokens(tmp_path: Path):
    home = tmp_path / "home"
    old = "an-old-predict-token-from-before"
    auth.secrets_dir(home).mkdir(parents=True)
    auth.default_token_file(home, "predict").write_text(old + "\n")
    tokens = Tokens.load(home, environ={})
    assert tokens.role_of(f"Bearer {old}") == "predict"
    assert old not in auth.token_store(home).read_text()
    assert auth.default_token_file(home, "predict").read_text().strip() == old
    # once the store exists, a role whose tokens were all revoked gets a new one at the next start
    assert revoke(home, role="predict") == 1
    tokens = Tokens.load(home, environ={})
    assert tokens.role_of(f"Bearer {old}") is None
    fresh = auth.default_token_file(home, "predict").read_text().strip()
    assert fresh != old and tokens.role_of(f"Bearer {fresh}") == "predict"


def test_tokens_from_the_environment_and_its_files_may_be_tokens_or_digests(tmp_path: Path):
    home = tmp_path / "home"
    store_admin = issue_token(home, "admin")
    mounted = tmp_path / "predict-tokens"
    plain, hashed = "predict-token-kept-in-plain", "predict-token-given-as-a-digest"
    mounted.write_text(f"# rotation: the new one first\n{plain}\n\n  {digest_of(hashed)}  \n")
    environ = {
        "OPENCLAW_GATEWAY_PREDICT_TOKEN_FILE": str(mounted),
        "OPENCLAW_GATEWAY_ADMIN_TOKEN": digest_of("admin-token-only-its-digest-set"),
        "OPENCLAW_GATEWAY_AUDITOR_TOKEN": "auditor-token-from-the-env",
    }
    tokens = Tokens.load(home, environ=environ)
    assert tokens.role_of(f"Bearer {plain}") == "predict"
    assert tokens.role_of(f"Bearer {hashed}") == "predict"
    assert tokens.role_of(f"Bearer {digest_of(hashed)}") is None  # a digest is not a token
    assert tokens.role_of("Bearer admin-token-only-its-digest-set") == "admin"
    assert tokens.role_of("Bearer auditor-token-from-the-env") == "auditor"
    assert tokens.role_of("Bearer # rotation: the new one first") is None
    # a role set in the environment does not also take the store's tokens
    assert tokens.role_of(f"Bearer {store_admin}") is None
    # and nothing was issued for the roles the environment covers
    assert not auth.default_token_file(home, "predict").exists()


TWO_ROLES = {
    "OPENCLAW_GATEWAY_PREDICT_TOKEN": "one-token-for-two-roles",
    "OPENCLAW_GATEWAY_ADMIN_TOKEN": "one-token-for-two-roles",
}


@pytest.mark.parametrize(
    ("environ", "store", "problem"),
    [
        ({"OPENCLAW_GATEWAY_PREDICT_TOKEN": "short-secret"}, None, "at least 16 characters"),
        ({"OPENCLAW_GATEWAY_ADMIN_TOKEN": "sha256:abc"}, None, "64 lowercase hex digits"),
        ({"OPENCLAW_GATEWAY_AUDITOR_TOKEN_FILE": "/nonexistent/tokens"}, None, "cannot read token file"),
        ({}, "predict a-token-pasted-instead-of-its-digest\n", "gateway-tokens:1: expected `<role> sha256:"),
        ({}, f"owner {digest_of('x' * 20)}\n", "gateway-tokens:1: expected"),
        (TWO_ROLES, None, "one token is configured for both the predict and the admin role"),
    ],
)
def test_a_bad_token_setup_is_refused_without_echoing_a_token(
    tmp_path: Path, environ: dict[str, str], store: str | None, problem: str
):
    home = tmp_path / "home"
    if store is not None:
        auth.secrets_dir(home).mkdir(parents=True)
        auth.token_store(home).write_text(store)
    with pytest.raises(TokenError) as raised:
        Tokens.load(home, environ=environ)
    message = str(raised.value)
    assert problem in message
    for secret in ("short-secret", "a-token-pasted-instead", "one-token-for-two-roles"):
        assert secret not in message


def test_a_changed_store_is_noticed_and_a_broken_one_keeps_the_tokens_in_force(tmp_path: Path):
    home = tmp_path / "home"
    tokens = Tokens.load(home, environ={})
    first = auth.default_token_file(home, "predict").read_text().strip()
    second = issue_token(home, "predict", note="ci runner")
    wait_until(lambda: tokens.role_of(f"Bearer {second}") == "predict", ROTATION_SECONDS, 0.05, "the new token")
    assert revoke(home, digest=digest_of(first)) == 1
    wait_until(lambda: tokens.role_of(f"Bearer {first}") is None, ROTATION_SECONDS, 0.05, "the revoked token to stop")
    good = auth.token_store(home).read_text()
    auth.token_store(home).write_text(good + "predict not-a-digest\n")
    with pytest.raises(TokenError, match="gateway-tokens:5: expected"):
        tokens.reload()
    assert tokens.role_of(f"Bearer {second}") == "predict"
    auth.token_store(home).write_text(good)
    assert tokens.reload() is False  # the same tokens as before the broken edit


def test_a_local_client_finds_its_own_copy_of_a_token(tmp_path: Path):
    home = tmp_path / "home"
    Tokens.load(home, environ={})
    admin = auth.default_token_file(home, "admin").read_text().strip()
    assert auth.client_token(home, "admin", environ={}) == admin
    assert auth.client_token(home, "admin", environ={"OPENCLAW_GATEWAY_ADMIN_TOKEN": "from-the-env-xxxxxxx"}) == (
        "from-the-env-xxxxxxx"
    )
    mounted = tmp_path / "admin"
    mounted.write_text(f"{digest_of('unusable-by-a-client')}\nusable-admin-token-xx\n")
    found = auth.client_token(home, "admin", environ={"OPENCLAW_GATEWAY_ADMIN_TOKEN_FILE": str(mounted)})
    assert found == "usable-admin-token-xx"
    assert auth.client_token(tmp_path / "elsewhere", "admin", environ={}) is None


def _auth_cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "openclaw_assets.compute.gateway.auth", "--home", str(home), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_the_token_command_line_issues_once_lists_digests_and_revokes(tmp_path: Path):
    home = tmp_path / "home"
    issued = _auth_cli(home, "issue", "auditor", "--note", "quarterly audit")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert len(token) >= 40 and token not in issued.stderr
    listed = _auth_cli(home, "list")
    assert listed.returncode == 0
    [line] = listed.stdout.splitlines()
    assert line.startswith(f"auditor {digest_of(token)} quarterly audit ") and token not in listed.stdout
    assert token not in auth.token_store(home).read_text()
    revoked = _auth_cli(home, "revoke", "--digest", digest_of(token))
    assert revoked.returncode == 0 and "removed 1 token(s)" in revoked.stdout
    assert _auth_cli(home, "list").stdout == ""
    again = _auth_cli(home, "revoke", "--digest", digest_of(token))
    assert again.returncode == 1 and "removed 0 token(s)" in again.stdout


def test_a_broken_policy_bundle_stops_the_gateway_before_it_binds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from openclaw_assets.compute.gateway.settings import GatewaySettings
    from openclaw_assets.control import policy
    from openclaw_assets.kernel.settings import SettingError

    broken = tmp_path / "policies"
    broken.mkdir()
    (broken / "gateway_request.rego").write_text("package openclaw.gateway_request\n\ndeny contains x if {\n")
    monkeypatch.setattr(policy, "POLICY_DIR", broken)
    monkeypatch.setattr(policy, "_default", None)
    with pytest.raises(SettingError, match=r"the access policy cannot be loaded: policy gateway_request\.rego:\d+"):
        GatewaySettings.from_env(tmp_path / "home", environ={})


# --- a real gateway ------------------------------------------------------------------------------------


@dataclass
class Gateway:
    home: Path
    url: str
    log_file: Path
    client: httpx.Client
    tokens: dict[str, str]
    seen: list[str]
    """Every token the tests sent or issued: none may appear in a log, a body or a metric."""
    bodies: list[str]
    """Every answer's body."""

    def call(self, method: str, path: str, token: str | None = None) -> httpx.Response:
        if token is not None:
            self.seen.append(token)
        headers = bearer(token) if token is not None else {}
        body = {"flights": [FLIGHT]} if method == "POST" and path == "/v1/predict" else None
        answer = self.client.request(method, path, headers=headers, json=body)
        self.bodies.append(answer.text)
        return answer


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("access") / "home"
    endpoint_file = home / "gateway" / "access.json"
    log_file = home / "gateway" / "access.log"
    env = {**BLANK, "OPENCLAW_PROFILE": "embedded"}
    process = server.start_child(home, port=0, endpoint_file=endpoint_file, env=env, log_file=log_file)
    try:
        try:
            found = wait_until(lambda: server.read_endpoint(endpoint_file), READY_SECONDS, 0.1, "the endpoint file")

            def up() -> bool:
                with contextlib.suppress(httpx.HTTPError):
                    return httpx.get(found["url"] + "/healthz", timeout=5).status_code == 200
                return False

            wait_until(up, READY_SECONDS, 0.1, lambda: "the gateway: " + log_file.read_text(errors="replace")[-2000:])
        except AssertionError as exc:
            pytest.fail(str(exc))
        tokens = {role: auth.default_token_file(home, role).read_text().strip() for role in ROLES}
        with httpx.Client(base_url=found["url"], timeout=30) as client:
            yield Gateway(home, found["url"], log_file, client, tokens, list(tokens.values()), [])
    finally:
        server.stop(process.pid)
        process.wait(timeout=30)


# (role, method, path) -> status when authorised (the routes answer on a home without a model) or refused
EXPECTED = {
    ("predict", "POST", "/v1/predict"): 503,
    ("predict", "GET", "/v1/admin/status"): 403,
    ("predict", "POST", "/v1/admin/reload"): 403,
    ("predict", "GET", "/v1/audit/head"): 403,
    ("admin", "POST", "/v1/predict"): 503,
    ("admin", "GET", "/v1/admin/status"): 200,
    ("admin", "GET", "/v1/audit/entries"): 200,
    ("auditor", "POST", "/v1/predict"): 403,
    ("auditor", "GET", "/v1/admin/status"): 403,
    ("auditor", "POST", "/v1/admin/reload"): 403,
    ("auditor", "GET", "/v1/audit/entries"): 200,
    ("auditor", "GET", "/v1/audit/decisions"): 200,
    (None, "POST", "/v1/predict"): 401,
    (None, "GET", "/v1/audit/entries"): 401,
}
REASONS = {
    ("predict", "GET", "/v1/admin/status"): "this endpoint needs the admin role",
    ("predict", "GET", "/v1/audit/head"): "this endpoint needs the admin or auditor role",
    ("auditor", "POST", "/v1/predict"): "this endpoint needs the admin or predict role",
    (None, "POST", "/v1/predict"): "a valid bearer token is required",
}


@pytest.mark.cli
def test_each_role_reaches_what_the_policy_grants_and_is_refused_with_its_reason(gateway: Gateway):
    for (role, method, path), status in EXPECTED.items():
        answer = gateway.call(method, path, gateway.tokens[role] if role else None)
        assert answer.status_code == status, (role, method, path, answer.text)
        if status in (401, 403):
            body = answer.json()
            assert body["error"] == ("unauthorized" if status == 401 else "forbidden")
            assert body["detail"] == REASONS.get((role, method, path), body["detail"])
        if status == 401:
            assert answer.headers["www-authenticate"] == "Bearer"
    assert gateway.call("POST", "/v1/predict", gateway.tokens["predict"]).json()["error"] == "not_ready"


@pytest.mark.cli
def test_probes_and_metrics_stay_open(gateway: Gateway):
    for token in (None, "not-a-token-of-this-gateway", gateway.tokens["auditor"]):
        assert gateway.call("GET", "/healthz", token).status_code == 200
        assert gateway.call("GET", "/readyz", token).status_code == 503  # open, and not ready: no model
        assert gateway.call("GET", "/metrics", token).status_code == 200


@pytest.mark.cli
def test_a_wrong_token_is_unauthorized(gateway: Gateway):
    for token in ("wrong-token-of-enough-length", gateway.tokens["admin"] + "x", digest_of(gateway.tokens["admin"])):
        answer = gateway.call("GET", "/v1/admin/status", token)
        assert answer.status_code == 401 and answer.json()["detail"] == "a valid bearer token is required"


@pytest.mark.cli
def test_tokens_are_rotated_without_a_restart(gateway: Gateway):
    admin = gateway.tokens["admin"]
    new = issue_token(gateway.home, "predict", note="rotation test")
    gateway.seen.append(new)
    wait_until(
        lambda: gateway.call("POST", "/v1/predict", new).status_code == 503, ROTATION_SECONDS, 0.1, "the new token"
    )
    assert revoke(gateway.home, digest=digest_of(new)) == 1
    wait_until(
        lambda: gateway.call("POST", "/v1/predict", new).status_code == 401, ROTATION_SECONDS, 0.1, "the revoked one"
    )
    assert gateway.call("POST", "/v1/predict", gateway.tokens["predict"]).status_code == 503
    # POST /v1/admin/reload reads the store at once: the next request knows the new token
    newer = issue_token(gateway.home, "auditor")
    gateway.seen.append(newer)
    gateway.call("POST", "/v1/admin/reload", admin)  # 503: the tokens are reloaded, the model is still missing
    assert gateway.call("GET", "/v1/audit/entries", newer).status_code == 200
    revoke(gateway.home, digest=digest_of(newer))


@pytest.mark.cli
def test_a_broken_store_keeps_the_tokens_in_force_and_reload_says_where(gateway: Gateway):
    store = auth.token_store(gateway.home)
    good = store.read_text()
    pasted = "a-token-pasted-where-its-digest-belongs"
    gateway.seen.append(pasted)
    try:
        store.write_text(good + f"auditor {pasted}\n")
        answer = gateway.call("POST", "/v1/admin/reload", gateway.tokens["admin"])
        assert answer.status_code == 503 and answer.json()["error"] == "reload_failed"
        assert "gateway-tokens:" in answer.json()["detail"] and pasted not in answer.text
        assert gateway.call("GET", "/v1/audit/entries", gateway.tokens["auditor"]).status_code == 200
    finally:
        store.write_text(good)
        gateway.call("POST", "/v1/admin/reload", gateway.tokens["admin"])


def _decisions(gateway: Gateway) -> list[dict[str, Any]]:
    return gateway.call("GET", "/v1/audit/decisions?limit=1000", gateway.tokens["auditor"]).json()["decisions"]


@pytest.mark.cli
def test_refusals_are_recorded_in_the_ledger_and_allowed_requests_are_not(gateway: Gateway):
    from openclaw_assets.control.ledger import Ledger
    from openclaw_assets.control.policy import load_policies

    before = len(_decisions(gateway))
    assert gateway.call("GET", "/v1/audit/head", gateway.tokens["admin"]).status_code in (200, 404)  # allowed
    assert gateway.call("POST", "/v1/admin/reload", gateway.tokens["auditor"]).status_code == 403
    assert gateway.call("GET", "/v1/admin/status", "unknown-token-for-the-ledger").status_code == 401

    def recorded() -> list[dict[str, Any]]:
        found = _decisions(gateway)
        return found if len(found) >= before + 2 else []

    newest = wait_until(recorded, 30, 0.1, "the two refusals in the ledger")[:2]
    assert [d["subject"] for d in newest] == [
        "decision:gateway_request/v1/admin/status",
        "decision:gateway_request/v1/admin/reload",
    ]
    unauthorized, forbidden = newest
    assert unauthorized["facts"]["status"] == 401 and unauthorized["facts"]["role"] is None
    assert forbidden["facts"] == {
        "point": "gateway_request",
        "allowed": False,
        "reasons": ["this endpoint needs the admin role"],
        "input_digest": forbidden["digest"],
        "bundle_hash": load_policies().bundle_hash,
        "method": "POST",
        "route": "/v1/admin/reload",
        "role": "auditor",
        "status": 403,
    }
    assert all(d["facts"]["allowed"] is False for d in _decisions(gateway))
    with Ledger.open(gateway.home) as ledger:
        report = ledger.verify()
        assert report.ok, report.message


@pytest.mark.cli
def test_the_auditor_reads_a_signed_head_entries_and_proofs_that_verify(gateway: Gateway):
    from openclaw_assets.control import merkle
    from openclaw_assets.control.ledger import Ledger, TreeHead

    auditor = gateway.tokens["auditor"]
    gateway.call("GET", "/v1/admin/status", auditor)  # a refusal, so that the ledger is not empty
    head = wait_until(
        lambda: gateway.call("GET", "/v1/audit/head", auditor).json() if _decisions(gateway) else None, 30, 0.1
    )
    with Ledger.open(gateway.home) as ledger:
        signed = TreeHead(**head)
        assert signed.signature_problem(ledger.public_keys()) is None
        assert signed.size <= ledger.size()
        page = gateway.call("GET", f"/v1/audit/entries?start=0&limit={signed.size}", auditor).json()
        assert page["start"] == 0 and len(page["entries"]) == signed.size
        assert page["entries"] == [json.loads(json.dumps(_as_json(e))) for e in ledger.entries(0, signed.size)]
        last = signed.size - 1
        proof = gateway.call("GET", f"/v1/audit/proof/{last}", auditor).json()
        assert proof["leaf_hash"] == ledger.entry(last).leaf_hash.hex()
        assert merkle.verify_inclusion(proof["leaf_hash"], last, signed.size, proof["proof"], signed.root)
    missing = gateway.call("GET", "/v1/audit/proof/100000", auditor)
    assert missing.status_code == 404 and missing.json()["error"] == "no_such_entry"
    for query in ("limit=0", "limit=1001", "start=-1"):
        assert gateway.call("GET", f"/v1/audit/entries?{query}", auditor).status_code == 422


def _as_json(entry: Any) -> dict[str, Any]:
    from dataclasses import asdict

    found = asdict(entry)
    found["inputs"] = list(entry.inputs)
    return found


@pytest.mark.cli
def test_every_status_of_the_audit_and_admin_routes_is_documented(gateway: Gateway):
    paths = gateway.call("GET", "/openapi.json").json()["paths"]
    for path in ("/v1/audit/head", "/v1/audit/entries", "/v1/audit/decisions", "/v1/audit/proof/{seq}"):
        assert {"200", "401", "403", "503"} <= set(paths[path]["get"]["responses"]), path
    assert "404" in paths["/v1/audit/proof/{seq}"]["get"]["responses"]
    assert "401" not in paths["/healthz"]["get"]["responses"]


@pytest.mark.cli
def test_no_token_is_in_the_log_an_answer_or_a_metric(gateway: Gateway):
    # good and bad tokens once more, on every kind of route
    for token in [*gateway.tokens.values(), "a-bad-token-that-is-long-enough"]:
        gateway.seen.append(token)
        for method, path in (("POST", "/v1/predict"), ("GET", "/v1/admin/status"), ("GET", "/v1/audit/head")):
            gateway.call(method, path, token)
    texts = {
        "log": gateway.log_file.read_text(errors="replace"),
        "metrics": gateway.call("GET", "/metrics").text,
        "answers": "\n".join(gateway.bodies),
        "ledger": json.dumps(_decisions(gateway)),
    }
    assert "listening on" in texts["log"]
    for where, text in texts.items():
        for token in set(gateway.seen):
            assert token not in text, f"a token is in the {where}"
    for copy in (auth.default_token_file(gateway.home, role) for role in ROLES):
        assert copy.read_text().strip() not in auth.token_store(gateway.home).read_text()
