"""Health with the pipeline's state, the operators' alert list, and Prometheus /metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import bearer

OPERATOR = bearer("operator", "op-1")
MERCHANT = bearer("merchant", "m-1")


async def caught_up(api: Any, position: int, timeout: float = 30.0) -> None:
    """Wait until the catalog read model has applied ``position`` (the relay published it)."""
    deadline = time.monotonic() + timeout
    while True:
        response = await api.get("/products", headers=MERCHANT, params={"min_position": position})
        if response.status_code == 200:
            return
        assert response.status_code == 503, response.text
        assert time.monotonic() < deadline, "the catalog never caught up"


def families(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


async def test_health_reports_the_pipeline(api: Any, pipeline: Any) -> None:
    created = await api.post(
        "/products",
        headers=MERCHANT,
        json={"title": "Tie", "category": "ties", "brand": "b", "price": 1900, "currency": "EUR"},
    )
    position = created.json()["position"]
    await caught_up(api, position)
    response = await api.get("/api/system/health")  # no token: health is public
    assert response.status_code == 200, response.text
    health = response.json()
    assert health["status"] == "ok"
    assert health["event_store_head"] >= position
    catalog = health["consumers"]["projection-catalog"]
    assert catalog["source"] == "read_model" and catalog["position"] >= position
    assert catalog["lag_events"] == 0 and catalog["dead_letters"] == 0
    assert {
        "projection-orders",
        "projection-finance",
        "projection-campaigns",
        "projection-ops",
    } <= set(health["consumers"])
    assert health["dead_letters"] == 0 and health["alerts"] == []
    assert health["relay"]["position"] >= position


async def test_metrics_scrape_in_prometheus_text_format_without_a_token(
    api: Any, pipeline: Any
) -> None:
    created = await api.post(
        "/products",
        headers=MERCHANT,
        json={"title": "Sock", "category": "socks", "brand": "b", "price": 900, "currency": "EUR"},
    )
    # Once the catalog has the product, the relay has published (and recorded) its position.
    await caught_up(api, created.json()["position"])
    await api.get("/finance/revenue")  # a 401, counted too
    response = await api.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    found = families(response.text)
    for name in (
        "modiste_event_store_head",
        "modiste_relay_position",
        "modiste_consumer_lag_events",
        "modiste_dead_letters",
        "modiste_disk_used_ratio",
        "modiste_monitor_up",
        "modiste_http_requests",
        "modiste_http_request_duration_seconds",
    ):
        assert name in found, name
    assert found["modiste_monitor_up"].samples[0].value == 1
    assert found["modiste_event_store_head"].samples[0].value >= 1
    lag = {s.labels["consumer"]: s for s in found["modiste_consumer_lag_events"].samples}
    assert lag["projection-catalog"].labels["source"] == "read_model"
    requests = found["modiste_http_requests"].samples
    assert any(
        s.labels.get("status_code") == "401" and s.labels.get("path") == "/finance/revenue"
        for s in requests
    )
    latency = found["modiste_http_request_duration_seconds"].samples
    assert any(s.labels.get("path") == "/products" for s in latency)


async def test_the_alert_list_is_for_operators(api: Any) -> None:
    anonymous, merchant, operator, bad = await asyncio.gather(
        api.get("/api/system/alerts"),
        api.get("/api/system/alerts", headers=MERCHANT),
        api.get("/api/system/alerts", headers=OPERATOR),
        api.get("/api/system/alerts", headers=OPERATOR, params={"limit": 0}),
    )
    assert (anonymous.status_code, merchant.status_code) == (401, 403)
    assert operator.status_code == 200 and operator.json()["items"] == []
    assert bad.status_code == 400
    assert bad.json()["invalid_params"][0]["name"] == "limit"
