"""The desktop app (``htb-gui``): GTK 3 view (:mod:`htb.gui.app`) over a GTK-free core.

Importing this package needs no GTK: only :mod:`htb.gui.app` imports ``gi``, lazily.
"""
