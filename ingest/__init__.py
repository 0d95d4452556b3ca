"""Ingest: MQTT messages from hubs in, normalised events committed to TimescaleDB, bad input dead-lettered."""
