"""hidden-tahoe-backup: backups to a Tahoe-LAFS onion grid, reachable with a passphrase
and a small sealed manifest."""

__version__ = "0.2.0"
