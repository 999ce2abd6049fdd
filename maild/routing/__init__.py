"""Distribution: the queue, round robin, availability, max tickets and rebalancing.

Imports no edge; implements `maild.tickets.ports.Distributor` for the ticket lifecycle.
"""
