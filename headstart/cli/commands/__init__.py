"""One module per group of ``headstart`` commands."""
