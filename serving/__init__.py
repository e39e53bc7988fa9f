"""Serving: TF Serving layout, gRPC and REST clients (client.py, rest_client.py) and a local TF-Serving-compatible server (server.py); what both ends share is in constants.py."""
