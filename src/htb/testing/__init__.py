"""Test doubles and test grids of htb: TEST ONLY.

``memory`` is the second, in-memory implementation of :class:`htb.client.Client`
(the contract tests run against both); ``devgrid`` runs a plain-TCP Tahoe grid on
127.0.0.1. Neither ships: the wheel (and so the Tails wheelhouse) leaves this
package out (pyproject's ``packages.find``), and tests/unit/test_packaging.py checks it.
"""
