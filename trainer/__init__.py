"""Workstation trainer for the kiosk's face-embedding network."""
