"""One module per API resource; :class:`headstart.client.Client` exposes each as an attribute."""
