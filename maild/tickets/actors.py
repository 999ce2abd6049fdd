"""Who did it: the actor every ticket action is recorded under."""

from __future__ import annotations

from dataclasses import dataclass

from maild.store.models import Agent


@dataclass(frozen=True)
class Actor:
    """An agent (with `agent_id`, so their touches feed the "recent" view), a customer address
    or the system. `name` is what the history shows."""

    name: str
    agent_id: int | None = None

    @classmethod
    def of_agent(cls, agent: Agent) -> Actor:
        return cls(name=agent.name, agent_id=agent.id)

    @classmethod
    def customer(cls, address: str) -> Actor:
        return cls(name=address.strip().lower())


SYSTEM = Actor(name="system")
