"""Migrations on more than one machine: a lock so only one ``migrate`` runs at a time,
and a wait until the database schema matches the code (``migrate --check``)."""
