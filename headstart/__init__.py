"""Headstart's Python client (``headstart.client``) and command line (``headstart.cli``).

Neither imports the server's packages (``api``, ``workers``, ``shared``) nor torch:
they speak to a running Headstart over HTTP only.
"""

__version__ = "0.1.0"
