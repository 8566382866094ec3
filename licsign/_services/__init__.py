"""The issuer's use cases: issuing, the activation exchange, reports.

Each service takes the workspace, an explicit ``now``, its randomness and a
passphrase source where it signs, runs its whole change in one unit of work
(``Ledger.transaction()``, nestable), and returns typed, immutable results.
The command line and (later) the web portal only parse, call one service and
render (docs/adr/0016-service-layer.md).
"""
