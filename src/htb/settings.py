"""The defaults the command line and the desktop app share: one home for each.

Nothing here is a secret, and nothing here imports the rest of htb.
"""

from __future__ import annotations

# Seconds htb waits for the grid (enough servers connected, a transient shortage
# gone) unless `--timeout` says otherwise; the app always uses it.
GRID_WAIT = 120.0
# Where tor's SOCKS port is (Tails: 9050), unless $HTB_TOR_SOCKS_PORT says otherwise.
SOCKS_PORT = "tcp:127.0.0.1:9050"
SOCKS_PORT_ENV = "HTB_TOR_SOCKS_PORT"
# The client node's web API: loopback only.
WEB_PORT = "tcp:3456:interface=127.0.0.1"
