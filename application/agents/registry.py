"""Every agent the `agents` worker group runs."""

from __future__ import annotations

from typing import Any

from application.agents.base import Agent
from application.agents.commerce import commerce_agent
from application.agents.designer import studio_agents
from application.agents.finance import finance_agent
from application.agents.marketing import marketing_agent


def agent_handlers(container: Any) -> list[Agent]:
    """Agents wired to the container's Applications."""
    return [
        commerce_agent(container.catalog, container.orders),
        *studio_agents(container),
        finance_agent(container.finance),
        marketing_agent(container.marketing, lambda: container.settings.marketing_auto_draft),
    ]
