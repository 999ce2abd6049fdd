"""Distribution: the queue, round robin, availability, max tickets and rebalancing.

Imports no edge; implements `maild.tickets.ports.Distributor` for the ticket lifecycle.
"""

from maild.routing.availability import log_in, log_out, set_available, set_receiving
from maild.routing.distribute import RoundRobin, drain_queue, place
from maild.routing.rebalance import rebalance_group, run_due_rebalances
from maild.routing.take import take

__all__ = [
    "RoundRobin",
    "drain_queue",
    "log_in",
    "log_out",
    "place",
    "rebalance_group",
    "run_due_rebalances",
    "set_available",
    "set_receiving",
    "take",
]
