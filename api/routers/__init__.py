"""HTTP routers, one per resource, mounted by api/main.py."""
