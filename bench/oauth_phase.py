"""The OAuth phase: the authorization server's own hot paths, ours against stock DOT's endpoints.

Four endpoints, each in paired rounds of (ours, stock DOT) on the same database, clients and kind
of credentials (bench/seed.py, `seed_oauth`), by server CPU per request:

- refresh: `grant_type=refresh_token` from the public client, each refresh token used once (both
  rotate it, as the product's settings say);
- client credentials: a service account's confidential client asking for `photos.read`;
- introspection: the main tenant's resource server asking about a random live token of the tenant;
- revocation: the public client revoking an access token, each once.

Ours is the product's `/o/token/`, `/o/introspect/`, `/o/revoke_token/`; stock DOT is DOT's own
views, validator and core under /bench/dot/t/<slug>/o/ (bench/oauth.py says what differs from a
stock install, and why). Before the load the runner checks that both answer each request alike.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bench.load import CpuMeter, Target, get, post, read_forms
from bench.seed import MAIN, OAuthSeeded, Seeded, log, seed_oauth
from bench.stats import Variant, interleaved

ENDPOINTS = ("refresh", "client_credentials", "introspection", "revocation")
ONCE = {"refresh", "revocation"}  # each line's credential is used up by its request
OURS = {
    "refresh": "/o/token/",
    "client_credentials": "/o/token/",
    "introspection": "/o/introspect/",
    "revocation": "/o/revoke_token/",
}
DOT = {name: f"/bench/dot/t/{MAIN}" + path for name, path in OURS.items()}
TITLES = {
    "refresh": "refresh grant (public client, rotation)",
    "client_credentials": "client-credentials grant (a service account)",
    "introspection": "introspection by the tenant's resource server",
    "revocation": "revocation of an access token (public client)",
}


def paths() -> dict[str, dict[str, str]]:
    return {name: {"ours": OURS[name], "dot": DOT[name]} for name in ENDPOINTS}


def tokens_per_variant(args: argparse.Namespace) -> int:
    """Enough credentials for every run at up to `--oauth-rate` requests per second."""
    seconds = args.warmup + args.oauth_rounds * max(1, round(args.duration))
    margin = (args.oauth_rounds + 1) * (args.connections + 1) + 10
    return int(args.oauth_rate * seconds) + margin


def _answer(endpoint: str, status: int, body: bytes) -> Any:
    """What must be equal between the two variants' answers."""
    if status != 200:
        return ("status", status, body[:300])
    if endpoint == "revocation":
        return "revoked"
    data = json.loads(body)
    if endpoint == "introspection":
        return (
            data.get("active"),
            sorted(data.get("scope", "").split()),
            data.get("client_id"),
            data.get("username"),
        )
    return (data.get("token_type"), sorted(data.get("scope", "").split()), "refresh_token" in data)


def probe(port: int, oauth: OAuthSeeded, targets: dict[str, dict[str, Target]]) -> dict[str, dict[str, int]]:
    """One request of each variant per endpoint: the same answer, and SQL statements per request.

    A revoked token is then refused by ours' API whichever variant revoked it.
    """
    sql: dict[str, dict[str, int]] = {}
    for endpoint, variants in targets.items():
        answers = {}
        sql[endpoint] = {}
        for name, target in variants.items():
            path, body = read_forms(target)[target.start]
            status, headers, content = post(port, path, body, target.basic)
            answers[name] = _answer(endpoint, status, content)
            sql[endpoint][name] = int(headers.get("x-bench-sql", "0"))
            if status != 200:
                sys.exit(f"oauth {endpoint} {name}: {path} answered {status}: {content[:300]!r}")
            if endpoint == "revocation":
                token = body.split("token=", 1)[1].split("&", 1)[0]
                refused = get(port, f"/api/t/{MAIN}/photos/?page_size=1", token)[0]
                if refused != 401:
                    sys.exit(f"oauth revocation {name}: the revoked token still answered {refused}")
        if len({repr(a) for a in answers.values()}) != 1:
            sys.exit(f"oauth {endpoint}: ours and stock DOT answered differently: {answers}")
    log("probe: ours and stock DOT answer each OAuth endpoint alike")
    return sql


def oauth_phase(
    args: argparse.Namespace, seeded: Seeded, generator: Any, meter: CpuMeter
) -> tuple[dict[str, dict[str, Variant]], dict[str, dict[str, int]]]:
    """Seed the credentials, check both variants answer alike, then paired rounds per endpoint."""
    oauth = seed_oauth(seeded, paths(), tokens_per_variant(args))
    targets = {
        endpoint: {
            name: Target(
                path="",
                form_file=oauth.forms[endpoint][name],
                once=endpoint in ONCE,
                basic=oauth.basic[endpoint],
            )
            for name in ("ours", "dot")
        }
        for endpoint in ENDPOINTS
    }
    sql = probe(args.port, oauth, targets)
    results: dict[str, dict[str, Variant]] = {}
    for endpoint in ENDPOINTS:
        variants = {}
        for name, target in targets[endpoint].items():
            # The probe used the first line of a file whose lines are used once.
            start = 1 if target.once else 0
            variants[name] = Variant(Target(**{**target.__dict__, "start": start}))
        interleaved(f"oauth {endpoint}", variants, args.oauth_rounds, args, generator, meter)
        results[endpoint] = variants
    return results, sql
